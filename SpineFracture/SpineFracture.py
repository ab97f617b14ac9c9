"""SpineFracture: Slicer scripted module (Module, parameter node, Widget, Test).

UI and MRML glue only, following Slicer's scripted-module template: the computation runs in a
``PythonSlicer -m SpineFractureLib`` child process, and every MRML change is made by the logic in
the SpineFractureLogic package (tested under pytest with the slicer-core wheel).
"""

import os
import shutil
import sys
from typing import Annotated, Optional

import qt
import vtk

import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

# Loaded from a source tree (this folder added to Slicer's module paths): the library sits beside
# the module folder, not in it. Slicer puts only the module folder on sys.path.
_SOURCE_TREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isfile(os.path.join(_SOURCE_TREE, "SpineFractureLib", "__init__.py")) and _SOURCE_TREE not in sys.path:
    sys.path.append(_SOURCE_TREE)

from SpineFractureLogic import SpineFractureLogic  # noqa: E402

POLL_MS = 250  # how often the widget reads the child process's progress


class SpineFracture(ScriptedLoadableModule):
    """Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("SpineFracture")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["SpineFracture developers"]
        self.parent.helpText = _("""
Finds and explains cervical spine (C1-C7) fractures on CT: segments the vertebrae, estimates a
fracture probability per vertebra, shows where the classifier looked (Grad-CAM), measures vertebral
body heights (Genant grade), and lets you review, correct, reclassify and export.
<p><b>Research demo, not for clinical use.</b> The shipped weights are trained on synthetic
phantoms only; results on patient images mean nothing clinically.</p>
""")
        self.parent.acknowledgementText = _("""
Built on 3D Slicer, MONAI, PyTorch, SimpleITK and pydicom. Module structure follows the Slicer
scripted-module template by Jean-Christophe Fillion-Robin (Kitware), Andras Lasso (PerkLab) and
Steve Pieper (Isomics), partially funded by NIH grant 3P41RR013218-12S1; the background process
pattern follows SlicerMONAIAuto3DSeg.
""")


@parameterNodeWrapper
class SpineFractureParameterNode:
    """The parameters needed by the module.

    inputVolume - The CT volume to analyze.
    device - Where the networks run (auto, cpu, cuda, mps).
    resultsTable - The findings table of the analysis under review.
    threshold - Fracture probability from which a vertebra is reported as fractured.
    heatOpacity - Opacity of the Grad-CAM heat map over the CT.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    device: Annotated[str, Choice(["auto", "cpu", "cuda", "mps"])] = "auto"
    resultsTable: vtkMRMLTableNode
    threshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.5
    heatOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.5


class SpineFractureWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._run = None  # the running CliRun
        self._runContext = None  # (work dir, input node, previous results or None)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SpineFracture.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SpineFractureModuleLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.loadSampleButton.connect("clicked(bool)", self.onLoadSample)
        self.ui.analyzeButton.connect("clicked(bool)", self.onAnalyze)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.reclassifyButton.connect("clicked(bool)", self.onReclassify)
        self.ui.editSegmentsButton.connect("clicked(bool)", self.onEditSegments)
        self.ui.acceptButton.connect("clicked(bool)", lambda: self.onReview("accepted"))
        self.ui.rejectButton.connect("clicked(bool)", lambda: self.onReview("rejected"))
        self.ui.clearReviewButton.connect("clicked(bool)", lambda: self.onReview(None))
        self.ui.exportButton.connect("clicked(bool)", self.onExport)
        self.ui.describeButton.connect("clicked(bool)", self.onDescribeButton)
        self.ui.resultsTableView.setSelectionBehavior(qt.QAbstractItemView.SelectRows)
        self.ui.resultsTableView.setSelectionMode(qt.QAbstractItemView.SingleSelection)
        self.ui.resultsTableView.connect("selectionChanged()", self.onRowSelected)
        self.ui.exportDirectoryButton.directory = qt.QDir.homePath()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        if self._run is not None:
            self._run.cancel()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterChanged)

    def onSceneStartClose(self, caller, event) -> None:
        if self._run is not None:
            self._run.cancel()  # its results would belong to a scene that is gone
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode: Optional[SpineFractureParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterChanged)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # In the .ui file a dynamic property "SlicerParameterName" names each bound widget.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterChanged)
            self._onParameterChanged()

    def _onParameterChanged(self, caller=None, event=None) -> None:
        p = self._parameterNode
        table = p.resultsTable if p else None
        if table is not self.ui.resultsTableView.mrmlTableNode():
            self.ui.resultsTableView.setMRMLTableNode(table)
            if table is not None:  # another result: the slider shows its threshold, nothing is redecided
                threshold = self.logic.tableFindings(table).threshold
                if threshold is not None and abs(threshold - p.threshold) > 1e-6:
                    p.threshold = threshold  # re-enters this method with the table already shown
                    return
        elif table is not None:
            findings = self.logic.tableFindings(table)
            if findings.threshold is not None and abs(findings.threshold - p.threshold) > 1e-6:
                self.logic.setThreshold(table, p.threshold)  # decisions follow the slider, no rerun
        if table is not None:
            self.logic.setHeatOpacity(p.heatOpacity)
        self._updateButtons()
        self._updateResultLabels()

    def _updateButtons(self) -> None:
        p = self._parameterNode
        running = self._run is not None
        hasInput = bool(p and p.inputVolume)
        hasResults = bool(p and p.resultsTable)
        self.ui.analyzeButton.enabled = hasInput and not running
        self.ui.analyzeButton.toolTip = _("Analyze the input CT") if hasInput else _("Select an input volume")
        self.ui.cancelButton.enabled = running
        self.ui.describeButton.enabled = hasInput
        for button in (self.ui.reclassifyButton, self.ui.editSegmentsButton, self.ui.exportButton):
            button.enabled = hasResults and not running
        selected = self._selectedLevel() is not None
        for button in (self.ui.acceptButton, self.ui.rejectButton, self.ui.clearReviewButton):
            button.enabled = hasResults and selected

    def _updateResultLabels(self) -> None:
        p = self._parameterNode
        if not (p and p.resultsTable):
            self.ui.patientLabel.text = ""
            return
        findings = self.logic.tableFindings(p.resultsTable)
        models = "; ".join(f"{task}: {m['name']} {m['version']}, trained on {m['trained_on']}"
                           for task, m in findings.model.items())
        self.ui.modelInfoLabel.text = _("Models — {models}. Research use only.").format(models=models)
        prob = findings.patient.get("fracture_probability")
        threshold = findings.patient.get("threshold")  # the patient's own (None in older files)
        lines = [] if prob is None else [_("Patient fracture probability {p:.2f}: {d} (patient threshold {t})").format(
            p=prob, d=_("fracture") if findings.patient.get("fracture") else _("no fracture"),
            t="–" if threshold is None else f"{threshold:.2f}")]
        lines += findings.warnings
        self.ui.patientLabel.text = "\n".join(lines)

    # ------------------------------------------------------------------ analyze / reclassify

    def onLoadSample(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to make the sample phantom."), waitCursor=True):
            self._ensureDependencies()
            node = self.logic.loadSample()
            self._parameterNode.inputVolume = node
            self.logic.showInSliceViews(node)
            slicer.util.resetSliceViews()  # fit the views to the new volume

    def onAnalyze(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to start the analysis."), waitCursor=True):
            self._ensureDependencies()
            workDir = slicer.util.tempDirectory("SpineFracture")
            volume = self._parameterNode.inputVolume
            run = self.logic.startAnalysis(
                volume, workDir, self._python(), device=self._parameterNode.device,
                model=self.ui.segmentationModelPathLineEdit.currentPath or None,
                classifier=self.ui.classifierModelPathLineEdit.currentPath or None, launcher=self._launch)
            self._startPolling(run, workDir, volume, None)

    def onReclassify(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to start the reclassification."), waitCursor=True):
            previous = self.logic.resultNodes(self._parameterNode.resultsTable)
            volume = slicer.mrmlScene.GetNodeByID(previous.table.GetAttribute("SpineFracture.InputVolumeID"))
            workDir = slicer.util.tempDirectory("SpineFracture")
            run = self.logic.startReclassify(
                volume, previous.segmentation, workDir, self._python(), device=self._parameterNode.device,
                classifier=self.ui.classifierModelPathLineEdit.currentPath or None, launcher=self._launch)
            self._startPolling(run, workDir, volume, previous)

    def onCancel(self) -> None:
        if self._run is not None:
            self._run.cancel()  # the next poll ends the run and leaves the scene as it was

    def _startPolling(self, run, workDir, volume, previous) -> None:
        self._run, self._runContext = run, (workDir, volume, previous)
        self.ui.progressBar.value = 0
        self._updateButtons()
        qt.QTimer.singleShot(POLL_MS, self._poll)

    def _poll(self) -> None:
        run = self._run
        if run is None:
            return
        alive = run.poll()
        self.ui.progressBar.value = int(round(100 * run.fraction))
        self.ui.statusLabel.text = run.message
        if alive:
            qt.QTimer.singleShot(POLL_MS, self._poll)
            return
        workDir, volume, previous = self._runContext
        self._run, self._runContext = None, None
        try:
            if run.succeeded:
                with slicer.util.tryWithErrorDisplay(_("Failed to load the results."), waitCursor=True):
                    results = self.logic.loadResults(volume, os.path.join(workDir, "out"), previous)
                    findings = self.logic.tableFindings(results.table)
                    self._parameterNode.resultsTable = results.table  # the slider takes its threshold
                    self.ui.statusLabel.text = _("Done in {s:.0f} s").format(s=findings.timings_s.get("total", 0.0))
            elif run.returncode == self.logic.CANCELLED:
                self.ui.statusLabel.text = _("Cancelled; nothing was changed")
            else:
                self.ui.statusLabel.text = _("Failed")
                slicer.util.errorDisplay(run.error_message(), windowTitle=_("SpineFracture"),
                                         detailedText="\n".join(run.log[-40:]))
        finally:
            shutil.rmtree(workDir, ignore_errors=True)
            self._updateButtons()

    def _launch(self, args, envUpdates):
        return slicer.util.launchConsoleProcess(args, useStartupEnvironment=False, updateEnvironment=envUpdates)

    @staticmethod
    def _python() -> str:
        return shutil.which("PythonSlicer") or shutil.which("python-real") or "PythonSlicer"

    def _ensureDependencies(self) -> None:
        """torch through the PyTorch extension first, then whatever else is missing; ask before each."""
        from SpineFractureLogic.dependencies import missing_requirements, read_requirements, torch_installed

        if not torch_installed():
            import PyTorchUtils  # the PyTorch extension (EXTENSION_DEPENDS)

            if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=True, torchVersionRequirement=">=2.2") \
                    is None:
                raise RuntimeError(_("PyTorch is needed and was not installed."))
        missing = missing_requirements(read_requirements(self.resourcePath("requirements.txt")))
        if not missing:
            return
        if not slicer.util.confirmOkCancelDisplay(
                _("SpineFracture needs these Python packages: {p}. Install them now?").format(p=", ".join(missing))):
            raise RuntimeError(_("The packages SpineFracture needs were not installed."))
        try:
            import slicer.packaging

            slicer.packaging.pip_ensure(missing, requester="SpineFracture", prompt_install=False)
        except ImportError:  # Slicer before 5.12
            slicer.util.pip_install(missing)

    # ------------------------------------------------------------------ review

    def _selectedLevel(self):
        table = self._parameterNode.resultsTable if self._parameterNode else None
        if table is None:
            return None
        rows = {index.row() for index in self.ui.resultsTableView.selectionModel().selectedIndexes()}
        return self.logic.levelAtRow(table, min(rows)) if rows else None

    def onRowSelected(self) -> None:
        level = self._selectedLevel()
        if level is not None:
            self.logic.jumpToLevel(self._parameterNode.resultsTable, level)
        self._updateButtons()

    def onReview(self, review) -> None:
        level = self._selectedLevel()
        with slicer.util.tryWithErrorDisplay(_("Failed to record the review.")):
            self.logic.setReview(self._parameterNode.resultsTable, level, review)

    def onEditSegments(self) -> None:
        results = self.logic.resultNodes(self._parameterNode.resultsTable)
        slicer.util.selectModule("SegmentEditor")
        slicer.modules.SegmentEditorWidget.editor.setSegmentationNode(results.segmentation)

    # ------------------------------------------------------------------ export

    def onExport(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to export."), waitCursor=True):
            results = self.logic.resultNodes(self._parameterNode.resultsTable)
            volume = slicer.mrmlScene.GetNodeByID(results.table.GetAttribute("SpineFracture.InputVolumeID"))
            folder = self.ui.exportDirectoryButton.directory
            overwrite = slicer.util.confirmYesNoDisplay(_("Replace earlier exports in this folder?")) \
                if self.logic.exportWouldReplace(folder) else False
            written = self.logic.exportReview(folder, volume, results, self._dicomFiles(volume), overwrite)
            self._screenshot(os.path.join(folder, "screenshot.png"), volume, results)
            if self.ui.exportTrainingCaseCheckBox.checked:
                caseId = self.ui.caseIdLineEdit.text.strip() or qt.QDateTime.currentDateTime().toString(
                    "'case-'yyyyMMdd-hhmmss")
                written.append(self.logic.exportTrainingCase(os.path.join(folder, "training"), caseId, volume,
                                                             results))
            self.ui.statusLabel.text = _("Exported {n} items to {f}").format(n=len(written) + 1, f=folder)

    @staticmethod
    def _dicomFiles(volume):
        uids = (volume.GetAttribute("DICOM.instanceUIDs") or "").split()
        database = getattr(slicer, "dicomDatabase", None)
        if not uids or database is None or not database.isOpen:
            return None
        files = [database.fileForInstance(uid) for uid in uids]
        return files if all(files) else None

    def _screenshot(self, path, volume, results) -> None:
        if slicer.util.mainWindow() is not None and slicer.app.layoutManager() is not None:
            import ScreenCapture

            slicer.util.forceRenderAllViews()
            ScreenCapture.ScreenCaptureLogic().captureImageFromView(None, path)
        else:  # testing without a main window: the logic renders the scene offscreen
            self.logic.saveScenePicture(path, volume, results)

    def onDescribeButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to describe the volume."), waitCursor=True):
            self.ui.outputLabel.text = self.logic.describeVolumeNode(self._parameterNode.inputVolume)


class SpineFractureModuleLogic(SpineFractureLogic, ScriptedLoadableModuleLogic):
    """SpineFractureLogic bound to ``slicer.mrmlScene``, plus the module's parameter node.

    The MRML work is in the SpineFractureLogic package, which must not import qt; the parameter
    node access comes from ScriptedLoadableModuleLogic, which does, so the two meet here.
    """

    def __init__(self) -> None:
        SpineFractureLogic.__init__(self, scene=slicer.mrmlScene)
        ScriptedLoadableModuleLogic.__init__(self)
        self.moduleName = "SpineFracture"  # the base class would derive "SpineFractureModule"

    def getParameterNode(self) -> SpineFractureParameterNode:
        return SpineFractureParameterNode(super().getParameterNode())


# Slicer runs the Test class named after the module from this file's namespace; it lives in a package
# folder (a top-level .py file here would be loaded as a module of its own).
from SpineFractureTesting import SpineFractureTest  # noqa: E402,F401
