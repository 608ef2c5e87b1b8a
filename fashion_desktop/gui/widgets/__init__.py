"""The window's widgets; none of them searches, embeds or decodes query images itself."""
