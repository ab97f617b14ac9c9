"""The Slicer module's MRML logic on a real vtkMRMLScene (slicer-core wheel, no Slicer application),
and static checks of the module files that Slicer alone would otherwise catch."""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import slicer  # slicer-core: a required test dependency (MRML classes without the application)
import vtk

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "SpineFracture"
for _path in (REPO, MODULE_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import SpineFractureLogic as logic  # noqa: E402  (needs MODULE_DIR on sys.path)
from SpineFractureLib.volume import CTVolume  # noqa: E402

SIZE_XYZ = (7, 6, 5)  # three different sizes, so that any axis mix-up shows


@pytest.fixture
def scene() -> slicer.vtkMRMLScene:
    return slicer.vtkMRMLScene()


@pytest.fixture
def oblique_ct(oblique_direction) -> CTVolume:
    """Oblique direction, anisotropic spacing, non-zero origin; distinct voxel values."""
    rng = np.random.default_rng(7)
    array = rng.uniform(-1000.0, 2000.0, size=SIZE_XYZ[::-1]).astype(np.float32)
    return CTVolume(array, spacing=(0.6, 0.8, 2.5), origin=(-12.5, 40.0, 103.0),
                    direction=oblique_direction, modality="CT")


def _ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


# --------------------------------------------------------------------------- CTVolume <-> MRML


def test_round_trip_keeps_voxels_and_geometry(scene, oblique_ct):
    node = logic.volume_node_from_ct(scene, oblique_ct, name="RoundTrip")
    assert node.IsA("vtkMRMLScalarVolumeNode")
    assert scene.GetNodeByID(node.GetID()) is node
    assert node.GetImageData().GetDimensions() == SIZE_XYZ

    back = logic.ct_from_volume_node(node)
    assert back.array.dtype == np.float32
    np.testing.assert_array_equal(back.array, oblique_ct.array)
    np.testing.assert_allclose(back.spacing, oblique_ct.spacing, atol=1e-9)
    np.testing.assert_allclose(back.origin, oblique_ct.origin, atol=1e-9)
    np.testing.assert_allclose(back.direction, oblique_ct.direction, atol=1e-9)
    assert back.warnings == []


def test_node_geometry_is_ras(scene, oblique_ct):
    node = logic.volume_node_from_ct(scene, oblique_ct)
    np.testing.assert_allclose(_ijk_to_ras(node), oblique_ct.ijk_to_ras(), atol=1e-9)
    np.testing.assert_allclose(node.GetSpacing(), oblique_ct.spacing, atol=1e-9)


@pytest.mark.parametrize("ijk", [(0, 0, 0), (6, 0, 0), (0, 5, 0), (0, 0, 4), (3, 2, 4), (6, 5, 4)])
def test_slicer_ras_of_voxel_is_lps_with_x_y_negated(scene, oblique_ct, ijk):
    node = logic.volume_node_from_ct(scene, oblique_ct)
    ras = _ijk_to_ras(node) @ [*ijk, 1]
    lps = oblique_ct.ijk_to_lps() @ [*ijk, 1]
    np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]], atol=1e-9)


def test_vtk_voxel_i_j_k_is_array_k_j_i(scene, oblique_ct):
    image = logic.volume_node_from_ct(scene, oblique_ct).GetImageData()
    for i, j, k in [(1, 2, 3), (6, 0, 4), (0, 5, 1)]:
        assert image.GetScalarComponentAsDouble(i, j, k, 0) == pytest.approx(
            float(oblique_ct.array[k, j, i])
        )


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float64, np.bool_, np.int64])
def test_other_voxel_types_round_trip_as_float32(scene, dtype):
    array = (np.arange(np.prod(SIZE_XYZ)).reshape(SIZE_XYZ[::-1]) % 7).astype(dtype)
    ct = CTVolume(array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    back = logic.ct_from_volume_node(logic.volume_node_from_ct(scene, ct))
    assert back.array.dtype == np.float32
    np.testing.assert_array_equal(back.array, array.astype(np.float32))


def test_int64_out_of_int32_range_is_rejected(scene):
    ct = CTVolume(np.full((2, 2, 2), 2**40, dtype=np.int64), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="int32"):
        logic.volume_node_from_ct(scene, ct)


def test_missing_node_or_image_is_a_value_error(scene):
    with pytest.raises(ValueError):
        logic.ct_from_volume_node(None)
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Empty")
    with pytest.raises(ValueError, match="no image data"):
        logic.ct_from_volume_node(empty)


def test_parent_transform_is_reported(scene, oblique_ct):
    node = logic.volume_node_from_ct(scene, oblique_ct)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "Shift")
    node.SetAndObserveTransformNodeID(transform.GetID())
    back = logic.ct_from_volume_node(node)
    assert any("Shift" in w for w in back.warnings)


def test_describe_names_size_and_orientation(scene, oblique_ct):
    node = logic.volume_node_from_ct(scene, oblique_ct, name="Neck")
    text = logic.describe_volume_node(node)
    assert re.search(r"7\D+6\D+5 voxels", text), text
    assert "Neck" in text
    assert "HU range" in text


def test_logic_class_uses_its_scene(scene, oblique_ct):
    spine_logic = logic.SpineFractureLogic(scene=scene)
    node = spine_logic.volumeNodeFromCT(oblique_ct, "ViaClass")
    assert scene.GetNodeByID(node.GetID()) is node
    np.testing.assert_array_equal(spine_logic.ctFromVolumeNode(node).array, oblique_ct.array)
    assert re.search(r"7\D+6\D+5 voxels", spine_logic.describeVolumeNode(node))


def test_logic_class_refuses_a_positional_argument():
    # Slicer passes one positional argument when it mistakes a helper file for a module.
    with pytest.raises(TypeError):
        logic.SpineFractureLogic(object())  # type: ignore[misc]


# --------------------------------------------------------------------------- static checks


def _parse(name: str) -> ast.Module:
    return ast.parse((MODULE_DIR / name).read_text(encoding="utf-8"))


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _base_names(cls: ast.ClassDef) -> set[str]:
    return {ast.unparse(base) for base in cls.bases}


def _parameter_node_class(tree: ast.Module) -> ast.ClassDef:
    wrapped = [c for c in _classes(tree).values()
               if any(ast.unparse(d) == "parameterNodeWrapper" for d in c.decorator_list)]
    assert len(wrapped) == 1, "expected exactly one @parameterNodeWrapper class"
    return wrapped[0]


def test_module_file_follows_the_scripted_module_template():
    tree = _parse("SpineFracture.py")
    classes = _classes(tree)
    assert "ScriptedLoadableModule" in _base_names(classes["SpineFracture"])
    assert "ScriptedLoadableModuleWidget" in _base_names(classes["SpineFractureWidget"])
    assert "ScriptedLoadableModuleTest" in _base_names(classes["SpineFractureTest"])
    widget_methods = {f.name for f in classes["SpineFractureWidget"].body if isinstance(f, ast.FunctionDef)}
    expected = {"setup", "cleanup", "enter", "exit", "setParameterNode", "initializeParameterNode"}
    assert expected <= widget_methods

    fields = {ast.unparse(a.target): ast.unparse(a.annotation)
              for a in _parameter_node_class(tree).body if isinstance(a, ast.AnnAssign)}
    assert fields["inputVolume"] == "vtkMRMLScalarVolumeNode"
    assert fields["threshold"].startswith("Annotated[float")

    source = (MODULE_DIR / "SpineFracture.py").read_text(encoding="utf-8")
    assert "connectGui(" in source and "tryWithErrorDisplay(" in source
    assert "StartCloseEvent" in source and "EndCloseEvent" in source


def test_module_self_test_runs_every_test_method():
    test_class = _classes(_parse("SpineFracture.py"))["SpineFractureTest"]
    methods = {f.name: f for f in test_class.body if isinstance(f, ast.FunctionDef)}
    called = {node.func.attr for node in ast.walk(methods["runTest"])
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    test_methods = {name for name in methods if name.startswith("test_")}
    assert test_methods, "the module's Test class has no test methods"
    assert test_methods <= called, f"runTest skips {test_methods - called}"
    for assign in ast.walk(test_class):
        if isinstance(assign, ast.Assign):
            assert not any("testLogic" in ast.unparse(t) for t in assign.targets)


def test_logic_file_imports_no_gui():
    allowed = {"__future__", "logging", "typing", "collections", "numpy", "vtk", "vtkmodules",
               "slicer", "SpineFractureLib"}
    tree = _parse("SpineFractureLogic.py")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
            if node.module == "slicer":
                names += [f"slicer.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in allowed, f"SpineFractureLogic.py imports {name}"
            assert name not in ("slicer.util", "slicer.ScriptedLoadableModule"), name
    uses = {ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not {u for u in uses if u.startswith(("slicer.util", "slicer.app", "qt.", "ctk."))}


def test_ui_file_matches_the_parameter_node_and_widget():
    root = ET.parse(MODULE_DIR / "Resources" / "UI" / "SpineFracture.ui").getroot()
    widgets = {w.get("name"): w for w in root.iter("widget")}
    bound = {}
    for name, widget in widgets.items():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.findtext("string")] = widget.get("class")
    fields = {ast.unparse(a.target) for a in _parameter_node_class(_parse("SpineFracture.py")).body
              if isinstance(a, ast.AnnAssign)}
    assert set(bound) == fields
    assert bound["inputVolume"] == "qMRMLNodeComboBox"

    source = (MODULE_DIR / "SpineFracture.py").read_text(encoding="utf-8")
    used = set(re.findall(r"self\.ui\.(\w+)", source)) | set(re.findall(r"widget\.ui\.(\w+)", source))
    assert used <= set(widgets), f"SpineFracture.py uses widgets missing from the .ui: {used - set(widgets)}"
    texts = " ".join(t.text or "" for t in root.iter("string"))
    assert "not for clinical use" in texts and "synthetic phantoms" in texts


def test_cmake_ships_module_logic_and_library():
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "slicerMacroBuildScriptedModule(" in cmake
    assert re.search(r"file\(GLOB_RECURSE\b", cmake)
    assert "/../SpineFractureLib" in cmake
    assert "SpineFractureLogic.py" in cmake or "${MODULE_NAME}Logic.py" in cmake
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake
    for resource in ("Resources/Icons/${MODULE_NAME}.png", "Resources/UI/${MODULE_NAME}.ui",
                     "Resources/requirements.txt"):
        assert resource in cmake
        assert (MODULE_DIR / resource.replace("${MODULE_NAME}", "SpineFracture")).is_file()

    top = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "add_subdirectory(SpineFracture)" in top
    assert re.search(r'set\(EXTENSION_DEPENDS\s+"PyTorch"\)', top)


@pytest.mark.parametrize("icon", ["SpineFracture/Resources/Icons/SpineFracture.png",
                                  "Resources/Icons/SpineFracture.png"])
def test_icons_are_128px_png(icon):
    data = (REPO / icon).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 128 and int.from_bytes(data[20:24], "big") == 128


def test_requirements_leave_slicer_bundled_packages_alone():
    lines = (MODULE_DIR / "Resources" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    packages = {re.split(r"[<>=!~\[; ]", line.strip())[0].lower()
                for line in lines if line.strip() and not line.lstrip().startswith("#")}
    bundled = {"numpy", "simpleitk", "pydicom", "vtk", "torch"}
    assert not packages & (bundled | {"slicer", "slicer-core"})
    # every runtime dependency of the library that Slicer does not bundle is listed
    import tomllib

    pyproject = tomllib.loads((MODULE_DIR.parent / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = {re.split(r"[<>=!~\[; ]", d)[0].lower() for d in pyproject["project"]["dependencies"]}
    assert runtime - bundled == packages
