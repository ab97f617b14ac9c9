"""Static checks of the Slicer module's files that only Slicer would otherwise catch: the template's
structure, no GUI import in the logic, widget names against the .ui, CMake against the tree, the
requirements against what Slicer bundles."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET

import pytest

from slicer_scene import MODULE_DIR, REPO

LOGIC_DIR = MODULE_DIR / "SpineFractureLogic"


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
    assert "ScriptedLoadableModuleTest" in _base_names(_classes(_parse("SpineFractureTesting/__init__.py"))["SpineFractureTest"])
    assert "from SpineFractureTesting import SpineFractureTest" in (MODULE_DIR / "SpineFracture.py").read_text()
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
    test_class = _classes(_parse("SpineFractureTesting/__init__.py"))["SpineFractureTest"]
    methods = {f.name: f for f in test_class.body if isinstance(f, ast.FunctionDef)}
    called = {node.func.attr for node in ast.walk(methods["runTest"])
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    test_methods = {name for name in methods if name.startswith("test_")}
    assert test_methods, "the module's Test class has no test methods"
    assert test_methods <= called, f"runTest skips {test_methods - called}"
    for assign in ast.walk(test_class):
        if isinstance(assign, ast.Assign):
            assert not any("testLogic" in ast.unparse(t) for t in assign.targets)


@pytest.mark.parametrize("path", sorted(LOGIC_DIR.glob("*.py")), ids=lambda p: p.name)
def test_logic_files_import_no_gui(path):
    allowed = {"__future__", "logging", "typing", "collections", "dataclasses", "pathlib", "json", "hashlib", "os",
               "queue", "subprocess", "sys", "threading", "time", "importlib", "numpy", "vtk", "vtkmodules",
               "slicer", "SpineFractureLib", "packaging", "psutil", "matplotlib"}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # this package's own modules
                continue
            names = [node.module or ""]
            if node.module == "slicer":
                names += [f"slicer.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
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


def _cmake_list(cmake: str, variable: str) -> list[str]:
    body = re.search(rf"set\({variable}\s+(.*?)\)", cmake, re.S).group(1)
    return [line.strip().replace("${MODULE_NAME}", "SpineFracture") for line in body.splitlines() if line.strip()]


def test_cmake_names_files_that_exist_and_ships_every_logic_file():
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "slicerMacroBuildScriptedModule(" in cmake
    scripts = _cmake_list(cmake, "MODULE_PYTHON_SCRIPTS")
    resources = _cmake_list(cmake, "MODULE_PYTHON_RESOURCES")
    for name in scripts + resources:
        assert (MODULE_DIR / name).is_file(), f"CMakeLists.txt names {name}, which does not exist"
    logic_files = {f"SpineFractureLogic/{p.name}" for p in LOGIC_DIR.glob("*.py")}
    assert logic_files <= set(scripts), f"not shipped: {logic_files - set(scripts)}"
    assert {"Resources/Icons/SpineFracture.png", "Resources/UI/SpineFracture.ui",
            "Resources/requirements.txt"} <= set(resources)
    assert re.search(r"file\(GLOB_RECURSE\b", cmake) and "/../SpineFractureLib" in cmake
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake

    top = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "add_subdirectory(SpineFracture)" in top
    assert re.search(r'set\(EXTENSION_DEPENDS\s+"PyTorch"\)', top)
    screenshot = re.search(r'EXTENSION_SCREENSHOTURLS\s+"[^"]*/main/([^"]+)"', top).group(1)
    assert (REPO / screenshot).is_file(), f"EXTENSION_SCREENSHOTURLS names {screenshot}, which does not exist"
    icon = re.search(r'EXTENSION_ICONURL\s+"[^"]*/main/([^"]+)"', top).group(1)
    assert (REPO / icon).is_file()


@pytest.mark.parametrize("icon", ["SpineFracture/Resources/Icons/SpineFracture.png",
                                  "Resources/Icons/SpineFracture.png"])
def test_icons_are_128px_png(icon):
    data = (REPO / icon).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 128 and int.from_bytes(data[20:24], "big") == 128


def _names(lines):
    return {re.split(r"[<>=!~\[; ]", line.strip())[0].lower() for line in lines}


def test_requirements_leave_slicer_bundled_packages_alone():
    from SpineFractureLogic.dependencies import SLICER_BUNDLED, TORCH, read_requirements

    packages = _names(read_requirements(MODULE_DIR / "Resources" / "requirements.txt"))
    assert not packages & (set(SLICER_BUNDLED) | {TORCH, "slicer", "slicer-core"})
    # every runtime dependency of the library that Slicer does not bundle is listed, and psutil,
    # which the module needs to cancel a run
    import tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = _names(pyproject["project"]["dependencies"])
    assert runtime - set(SLICER_BUNDLED) - {TORCH} | {"psutil"} == packages


def test_missing_requirements_reports_only_what_is_absent_or_too_old():
    from SpineFractureLogic.dependencies import missing_requirements, torch_installed

    assert missing_requirements(["numpy>=1.0", "pytest"]) == []
    assert missing_requirements(["numpy>=999", "no-such-package-spinefracture", "numpy"]) == [
        "numpy>=999", "no-such-package-spinefracture"]
    assert torch_installed()


def test_every_logic_method_the_widget_calls_exists():
    import SpineFractureLogic

    source = (MODULE_DIR / "SpineFracture.py").read_text(encoding="utf-8")
    source += (MODULE_DIR / "SpineFractureTesting" / "__init__.py").read_text(encoding="utf-8")
    used = set(re.findall(r"\blogic\.(\w+)", source)) | set(re.findall(r"self\.logic\.(\w+)", source))
    module_logic = _classes(_parse("SpineFracture.py"))["SpineFractureModuleLogic"]
    own = {f.name for f in module_logic.body if isinstance(f, ast.FunctionDef)}
    missing = {name for name in used - own
               if not hasattr(SpineFractureLogic.SpineFractureLogic, name) and name not in ("getParameterNode",)}
    assert not missing, f"SpineFracture.py calls logic methods that do not exist: {missing}"
