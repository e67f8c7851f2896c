"""Model kinds by name, for model files: a class registers itself with ``@register``; ``engine.io.model_file``
looks kinds up here, so io never imports (or switches on) model classes and models never import io at
module level. A registered class provides ``_model_record() -> (header: dict, arrays: dict[str, ndarray])``
and the classmethod ``_from_model_record(header, arrays)``."""
MODEL_KINDS = {}


def register(cls):
    MODEL_KINDS[cls.__name__] = cls
    return cls


def lookup(kind):
    return MODEL_KINDS.get(kind)
