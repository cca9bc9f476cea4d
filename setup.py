"""The compiled extensions; everything else is in pyproject.toml.

``augment._native`` (the compiled kernels) and ``augment._jpeg`` (partial JPEG
decoding) are optional: where no C compiler is at hand the build goes on without
them, and augment runs torchvision's own kernels and decodes JPEGs whole instead,
which give the same bytes, only slower (``augment.kernels.NATIVE`` and
``augment.images.PARTIAL_JPEG`` say what is in use).
"""

import sys

from setuptools import Extension, setup

# Exactness before speed: no fast-math, and no fused multiply-adds that torch does not
# do (the kernels must equal torchvision's float32 arithmetic bit for bit).
flags = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off", "-fno-fast-math", "-std=gnu11", "-Wno-psabi"]

setup(ext_modules=[
    Extension("augment._native", ["augment/_native.c"], extra_compile_args=flags, optional=True),
    # Partial JPEG decoding with Pillow's own libjpeg, bound at run time (dlopen), so
    # nothing links against it here; the header files are vendored.
    Extension("augment._jpeg", ["augment/_jpeg.c"], include_dirs=["augment/_vendor/libjpeg-turbo"],
              extra_compile_args=flags, optional=True),
])
