"""The method interface: registry, configs, and no way for a method to see the reference."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json

import numpy as np
import pytest

from methods.methods_testing import make_case
from mossfuse.data.scene import FusionInputs, Scene
from mossfuse.methods import FusionMethod, available_methods, get_method
from mossfuse.physics.protocols import Protocol, PSFSpec, SimulatedCase

CLASSICAL = ("gsa", "cnmf", "hysure")


@pytest.fixture(scope="module")
def simulated_case() -> SimulatedCase:
    cube = np.random.default_rng(0).uniform(0.1, 0.9, (31, 32, 32)).astype(np.float32)
    protocol = Protocol(name="tiny", ratio=8, phase=3, psf=PSFSpec(size=7, sigma=2.0))
    return protocol.simulate(Scene(cube, np.arange(400, 701, 10.0), "tiny"))


def test_registry_lists_the_classical_methods():
    names = available_methods()
    for name in (*CLASSICAL, "bicubic"):
        assert name in names
        method = get_method(name)
        assert isinstance(method, FusionMethod) and method.name == name


@pytest.mark.parametrize("name", CLASSICAL)
def test_fuse_rejects_a_simulated_case_or_a_scene(name, simulated_case):
    method = get_method(name)
    with pytest.raises(TypeError, match="FusionInputs"):
        method.fuse(simulated_case)
    with pytest.raises(TypeError, match="FusionInputs"):
        method.fuse(simulated_case.reference)


def test_fusion_inputs_has_no_reference_field():
    fields = {f.name for f in dataclasses.fields(FusionInputs)}
    assert not fields & {"reference", "ground_truth", "gt", "hr_hsi", "target"}


@pytest.mark.parametrize("name", CLASSICAL)
def test_methods_only_receive_inputs(name):
    cls = type(get_method(name))
    params = list(inspect.signature(cls._fuse).parameters)
    assert params == ["self", "inputs"]
    # neither the method module nor its helpers import a reference-carrying type or read a
    # ``.reference`` attribute (docstring examples aside: only the code is parsed)
    for mod in (cls.__module__, "mossfuse.physics.estimation", "mossfuse.methods._linalg"):
        tree = ast.parse(inspect.getsource(importlib.import_module(mod)))
        imported = {alias.name for node in ast.walk(tree)
                    if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names}
        assert not imported & {"SimulatedCase", "Scene", "Protocol", "get_protocol"}, mod
        attrs = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert "reference" not in attrs, mod


@pytest.mark.parametrize("name", CLASSICAL)
def test_result_contract_and_serialisable_config(name):
    case = make_case(size=32, ratio=4)
    method = get_method(name)
    res = method.fuse(case.inputs)
    assert res.hr_hsi.shape == case.reference.shape and res.hr_hsi.dtype == np.float32
    assert np.isfinite(res.hr_hsi).all()
    assert "fuse_seconds" in res.info
    cfg = json.loads(method.config.model_dump_json())
    assert type(method.config)(**cfg) == method.config
    with pytest.raises(ValueError):
        get_method(name, {"no_such_option": 1})


@pytest.mark.parametrize("name", CLASSICAL)
def test_blind_result_reports_the_estimates(name, simulated_case):
    res = get_method(name).fuse(simulated_case.inputs.blind())
    assert res.estimated_srf.shape == (3, 31)
    assert res.estimated_psf.shape == (7, 7)
    json.dumps(res.info["degradation"])  # recorded, JSON-serialisable
