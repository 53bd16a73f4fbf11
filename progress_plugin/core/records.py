"""Frozen records made in the thousands (a long history's points and tag markers): pure.

A frozen dataclass's own ``__init__`` sets each field through ``object.__setattr__``, one call
per field, which made building a 500-note client's progress about half of its cost.
:func:`quick_init` gives such a class an ``__init__`` with the same signature (the same
parameters, in the same order, with the same defaults) that sets the instance's fields in
one step. Everything else stays the dataclass's own: ``repr``, equality, hashing, and the
error on assignment.
"""
from __future__ import annotations

import dataclasses


def quick_init(cls):
    """Give frozen dataclass ``cls`` a one-step ``__init__``. Only for plain fields: no
    ``default_factory``, ``init=False``, keyword-only fields, ``__post_init__`` or slots."""
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:
        raise TypeError(f"{cls.__name__}: quick_init is for frozen dataclasses")
    if hasattr(cls, "__post_init__") or "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__}: quick_init takes no __post_init__ and no slots")
    params, defaults = [], {}
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING or not f.init or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name}: quick_init takes plain fields only")
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            defaults[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    names = [f.name for f in dataclasses.fields(cls)]
    source = (f"def __init__(self, {', '.join(params)}):\n"
              f"    _set(self, '__dict__', {{{', '.join(f'{n!r}: {n}' for n in names)}}})\n")
    namespace = {"_set": object.__setattr__, **defaults}
    exec(source, namespace)                     # as dataclasses itself makes __init__
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return cls
