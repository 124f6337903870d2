"""medlab: helpers for a course on fine-tuning language models for clinical reasoning.

Research and teaching code. Not for clinical use.
"""

import logging

__version__ = "0.1.0"

# On a CPU with AVX512-BF16, importing bitsandbytes warns that an optional inference kernel could
# not be fetched from the hub. The course never uses that kernel (medlab.models keeps 4-bit layers
# in their training layout on a CPU), and the warning would open every notebook's output there.
# Only that message is dropped: the module's other warnings still show.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    lambda record: "kernels-community" not in record.getMessage())
