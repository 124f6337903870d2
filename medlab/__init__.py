"""medlab: helpers for a course on fine-tuning language models for clinical reasoning.

Research and teaching code. Not for clinical use.
"""

__version__ = "0.1.0"
