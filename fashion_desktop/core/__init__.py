"""The Qt-free core: catalogue → images → embedder → index → search → evaluation.

Nothing in this package may import Qt (an import-linter contract and a test enforce it), so the
command line, the window and the tests all drive exactly the same code.
"""
