"""``method_summaries`` (what ``mossfuse methods`` prints) and the registry metadata."""

from __future__ import annotations

import json
import subprocess
import sys

from mossfuse.methods import available_methods, method_class, method_summaries
from mossfuse.methods.base import BUILTIN_METHODS, FusionMethod, TrainableMethod


def test_registry_metadata_matches_the_classes():
    for name, entry in BUILTIN_METHODS.items():
        cls = method_class(name)
        assert cls.name == name
        assert f"{cls.__module__}:{cls.__name__}" == entry.target
        assert cls.learned is entry.learned is issubclass(cls, TrainableMethod), name
        assert cls.uses_degradation is entry.uses_degradation, name
        assert cls.description == entry.description and entry.description, name
        assert "\n" not in entry.description and len(entry.description) <= 100


def test_summaries_fields_and_values():
    rows = {r["name"]: r for r in method_summaries()}
    assert sorted(rows) == available_methods()
    for r in rows.values():
        assert set(r) == {"name", "description", "learned", "uses_degradation", "weights"}
    assert rows["bicubic"]["uses_degradation"] is False and rows["bicubic"]["weights"] == "none"
    assert rows["gsa"]["learned"] is False and rows["gsa"]["uses_degradation"] is True
    assert rows["mossfuse"]["learned"] and rows["mossfuse"]["uses_degradation"] is False
    assert rows["scalmu"]["learned"] and rows["scalmu"]["uses_degradation"]
    for learned in ("mossfuse", "scalmu"):  # the shipped checkpoints are named
        assert "shipped" in rows[learned]["weights"]
        assert learned in rows[learned]["weights"]


def test_summaries_of_non_learned_methods_import_no_torch():
    code = ("import sys, json\n"
            "from mossfuse.methods.base import method_summaries, BUILTIN_METHODS\n"
            "for n, e in list(BUILTIN_METHODS.items()):\n"
            "    if e.learned: del BUILTIN_METHODS[n]\n"
            "rows = method_summaries()\n"
            "print(json.dumps([len(rows), 'torch' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == [4, False]


def test_third_party_method_is_summarised_from_its_class():
    from mossfuse.methods.base import _REGISTRY, FusionResult, register_method

    @register_method
    class Toy(FusionMethod):
        """Toy method for the test."""

        name = "toy-summary"
        uses_degradation = False

        def _fuse(self, inputs):  # pragma: no cover - not called
            return FusionResult(hr_hsi=inputs.lr_hsi)

    try:
        row = {r["name"]: r for r in method_summaries()}["toy-summary"]
        assert row == {"name": "toy-summary", "description": "Toy method for the test.",
                       "learned": False, "uses_degradation": False, "weights": "none"}
    finally:
        _REGISTRY.pop("toy-summary")
