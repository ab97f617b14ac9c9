"""Networks: the shared 3D encoder, the MAE, the structure-aware U-Net; registry of shipped weights."""
