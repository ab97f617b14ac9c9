"""Preprocessing: reorientation, resampling, cropping, bone windows and priors."""
