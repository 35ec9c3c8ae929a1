"""Data sets: one module per kind in kinds/ (registry finds them), what every set is (base), batched augmentation
on the device (augment), the checks that refuse a set whose numbers would mean nothing (check) and the image cache
(cache). This package's own import is light: torch is imported by the modules that compute."""
