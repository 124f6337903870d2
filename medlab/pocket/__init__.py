"""The pocket model: the small Llama the course builds for CPU-only machines."""

from medlab.pocket.model import PocketRecipe, build_pocket_model, pocket_model_path

__all__ = ["PocketRecipe", "build_pocket_model", "pocket_model_path"]
