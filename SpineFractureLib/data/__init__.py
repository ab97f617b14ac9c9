"""Data: synthetic CT generation and dataset adapters (RSNA, VerSe, phantoms)."""
