"""SpineFracture: Slicer scripted module (Module, parameter node, Widget, Test).

UI and MRML glue only, following Slicer's scripted-module template: the computation lives in
SpineFractureLib and the MRML conversions in SpineFractureLogic.py.
"""

import logging
from typing import Annotated, Optional

import vtk

import slicer
from slicer import vtkMRMLScalarVolumeNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from SpineFractureLogic import SpineFractureLogic


#
# SpineFracture
#


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
        # _() function marks text as translatable to other languages
        self.parent.helpText = _("""
Finds and explains cervical spine (C1-C7) fractures on CT: segments the vertebrae, estimates a
fracture probability per vertebra and shows where the classifier looked.
<p><b>Research demo, not for clinical use.</b> The shipped weights are trained on synthetic
phantoms only; results on patient images mean nothing clinically.</p>
""")
        self.parent.acknowledgementText = _("""
Built on 3D Slicer, MONAI, PyTorch, SimpleITK and pydicom. Module structure follows the Slicer
scripted-module template by Jean-Christophe Fillion-Robin (Kitware), Andras Lasso (PerkLab) and
Steve Pieper (Isomics), partially funded by NIH grant 3P41RR013218-12S1.
""")


#
# SpineFractureParameterNode
#


@parameterNodeWrapper
class SpineFractureParameterNode:
    """The parameters needed by the module.

    inputVolume - The CT volume to analyze.
    threshold - Fracture probability above which a vertebra is reported as fractured.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    threshold: Annotated[float, WithinRange(0.0, 1.0)] = 0.5


#
# SpineFractureWidget
#


class SpineFractureWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent=None) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for parameter node observation
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.setup(self)

        # Load widget from .ui file (created by Qt Designer).
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SpineFracture.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)

        # Set scene in MRML widgets. In the .ui file the top-level qMRMLWidget's
        # "mrmlSceneChanged(vtkMRMLScene*)" signal is connected to each MRML widget's
        # "setMRMLScene(vtkMRMLScene*)" slot.
        uiWidget.setMRMLScene(slicer.mrmlScene)

        # Create logic class. Logic implements all computations that should be possible to run
        # in batch mode, without a graphical user interface.
        self.logic = SpineFractureModuleLogic()

        # Connections

        # These connections ensure that we update parameter node when scene is closed
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        # Buttons
        self.ui.describeButton.connect("clicked(bool)", self.onDescribeButton)

        # Make sure parameter node is initialized (needed for module reload)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens this module."""
        # Make sure parameter node exists and observed
        self.initializeParameterNode()

    def exit(self) -> None:
        """Called each time the user opens a different module."""
        # Do not react to parameter node changes (GUI will be updated when the user enters into the module)
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        """Called just before the scene is closed."""
        # Parameter node will be reset, do not use it anymore
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        """Called just after the scene is closed."""
        # If this module is shown while the scene is closed then recreate a new parameter node immediately
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Ensure parameter node exists and observed."""
        # Parameter node stores all user choices in parameter values, node selections, etc.
        # so that when the scene is saved and reloaded, these settings are restored.
        self.setParameterNode(self.logic.getParameterNode())

        # Select default input nodes if nothing is selected yet to save a few clicks for the user
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode: Optional[SpineFractureParameterNode]) -> None:
        """Set and observe parameter node.

        Observation is needed because when the parameter node is changed then the GUI must be
        updated immediately.
        """
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Note: in the .ui file, a Qt dynamic property called "SlicerParameterName" is set on each
            # ui element that needs connection.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
        if self._parameterNode and self._parameterNode.inputVolume:
            self.ui.describeButton.toolTip = _("Show size, spacing, orientation and HU range of the volume")
            self.ui.describeButton.enabled = True
        else:
            self.ui.describeButton.toolTip = _("Select an input volume")
            self.ui.describeButton.enabled = False

    def onDescribeButton(self) -> None:
        """Show the description of the input volume when the user clicks "Describe volume"."""
        with slicer.util.tryWithErrorDisplay(_("Failed to describe the volume."), waitCursor=True):
            self.ui.outputLabel.text = self.logic.describeVolumeNode(self._parameterNode.inputVolume)


#
# SpineFractureModuleLogic
#


class SpineFractureModuleLogic(SpineFractureLogic, ScriptedLoadableModuleLogic):
    """SpineFractureLogic bound to ``slicer.mrmlScene``, plus the module's parameter node.

    The MRML work is in SpineFractureLogic.py, which must not import qt; the parameter node
    access comes from ScriptedLoadableModuleLogic, which does, so the two meet here.
    """

    def __init__(self) -> None:
        SpineFractureLogic.__init__(self, scene=slicer.mrmlScene)
        ScriptedLoadableModuleLogic.__init__(self)
        self.moduleName = "SpineFracture"  # the base class would derive "SpineFractureModule"

    def getParameterNode(self) -> SpineFractureParameterNode:
        return SpineFractureParameterNode(super().getParameterNode())


#
# SpineFractureTest
#


class SpineFractureTest(ScriptedLoadableModuleTest):
    """This is the test case for your scripted module.

    Uses ScriptedLoadableModuleTest base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def setUp(self):
        """Do whatever is needed to reset the state - typically a scene clear will be enough."""
        slicer.mrmlScene.Clear()

    def runTest(self):
        """Run as few or as many tests as needed here."""
        self.setUp()
        self.test_VolumeRoundTrip()
        self.setUp()
        self.test_DescribeVolume()
        self.setUp()
        self.test_WidgetDescribeButton()

    @staticmethod
    def _makeObliqueCT():
        """A small synthetic CT: anisotropic spacing, oblique direction, non-zero origin."""
        import numpy as np

        from SpineFractureLib.volume import CTVolume

        angle = np.deg2rad(20.0)
        direction = np.array([
            [np.cos(angle), -np.sin(angle), 0.0],
            [np.sin(angle), np.cos(angle), 0.0],
            [0.0, 0.0, 1.0],
        ])
        array = np.random.default_rng(0).uniform(-1000.0, 2000.0, size=(5, 6, 7)).astype(np.float32)
        return CTVolume(array=array, spacing=(0.7, 0.8, 2.5), origin=(-12.0, 30.5, 100.0),
                        direction=direction)

    def test_VolumeRoundTrip(self):
        """A CT written to a volume node and read back keeps its voxels and LPS geometry."""
        import numpy as np

        self.delayDisplay("Starting the volume round-trip test")
        ct = self._makeObliqueCT()
        logic = SpineFractureModuleLogic()
        node = logic.volumeNodeFromCT(ct, "RoundTrip")
        back = logic.ctFromVolumeNode(node)

        np.testing.assert_array_equal(back.array, ct.array)
        np.testing.assert_allclose(back.spacing, ct.spacing, atol=1e-6)
        np.testing.assert_allclose(back.origin, ct.origin, atol=1e-6)
        np.testing.assert_allclose(back.direction, ct.direction, atol=1e-6)

        # Slicer's RAS position of a voxel is the library's LPS position with x and y negated.
        ijkToRas = vtk.vtkMatrix4x4()
        node.GetIJKToRASMatrix(ijkToRas)
        ras = ijkToRas.MultiplyPoint((3, 2, 4, 1))[:3]
        lps = (ct.ijk_to_lps() @ np.array([3, 2, 4, 1]))[:3]
        np.testing.assert_allclose(ras, (-lps[0], -lps[1], lps[2]), atol=1e-6)
        self.delayDisplay("Test passed")

    def test_DescribeVolume(self):
        """The description names the volume size."""
        self.delayDisplay("Starting the describe test")
        logic = SpineFractureModuleLogic()
        node = logic.volumeNodeFromCT(self._makeObliqueCT(), "Describe")
        text = logic.describeVolumeNode(node)
        logging.info(text)
        self.assertRegex(text, r"7\D+6\D+5 voxels")
        self.delayDisplay("Test passed")

    def test_WidgetDescribeButton(self):
        """Selecting a volume and clicking "Describe volume" shows its size in the output label."""
        self.delayDisplay("Starting the widget test")
        widget = slicer.util.getModuleWidget("SpineFracture")
        logic = SpineFractureModuleLogic()
        node = logic.volumeNodeFromCT(self._makeObliqueCT(), "WidgetInput")
        widget.initializeParameterNode()
        widget._parameterNode.inputVolume = node
        self.assertTrue(widget.ui.describeButton.enabled)
        widget.ui.describeButton.click()
        self.assertRegex(widget.ui.outputLabel.text, r"7\D+6\D+5 voxels")
        self.assertAlmostEqual(widget._parameterNode.threshold, 0.5)
        self.delayDisplay("Test passed")
