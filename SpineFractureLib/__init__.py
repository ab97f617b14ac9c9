"""SpineFracture library: cervical spine (C1-C7) CT segmentation and fracture analysis.

All computation lives here; this package never imports slicer, qt or ctk so it runs the same
inside 3D Slicer, in batch scripts and in tests.

Research software: not a medical device. Shipped weights are trained on synthetic phantoms.
"""

__version__ = "0.1.0"
