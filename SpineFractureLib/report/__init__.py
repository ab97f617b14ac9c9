"""Reports: pictures and documents made from results (overlays; later report.png/html)."""
