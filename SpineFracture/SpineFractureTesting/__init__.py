"""The SpineFracture module's self-test, run inside Slicer ("Reload and Test", or the ctest that
``slicer_add_python_unittest`` registers): the whole workflow on the sample phantom.

Kept out of SpineFracture.py only for size; SpineFracture.py imports it so that Slicer finds
``SpineFractureTest`` in the module's namespace.
"""

import os
import shutil

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleTest


def _moduleLogic():
    from SpineFracture import SpineFractureModuleLogic  # imported late: SpineFracture.py imports this file

    return SpineFractureModuleLogic()


def _python() -> str:
    from SpineFracture import SpineFractureWidget

    return SpineFractureWidget._python()


class SpineFractureTest(ScriptedLoadableModuleTest):
    """The whole workflow inside Slicer on the sample phantom: analyze (the real child process and
    the shipped models), review, correct, reclassify, export."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_VolumeRoundTrip()
        self.setUp()
        self.test_Workflow()
        self.setUp()
        self.test_WidgetButtons()

    def test_VolumeRoundTrip(self):
        """A CT written to a volume node and read back keeps its voxels and LPS geometry."""
        import numpy as np

        from SpineFractureLib.volume import CTVolume

        self.delayDisplay("Volume round trip")
        array = np.random.default_rng(0).uniform(-1000.0, 2000.0, size=(5, 6, 7)).astype(np.float32)
        ct = CTVolume(array=array, spacing=(0.7, 0.8, 2.5), origin=(-12.0, 30.5, 100.0))
        logic = _moduleLogic()
        back = logic.ctFromVolumeNode(logic.volumeNodeFromCT(ct, "RoundTrip"))
        np.testing.assert_array_equal(back.array, ct.array)
        np.testing.assert_allclose(back.origin, ct.origin, atol=1e-6)
        self.delayDisplay("Test passed")

    def test_Workflow(self):
        """Sample -> analyze -> threshold, review -> erase part of a level -> reclassify -> export."""
        import tempfile

        import numpy as np

        self.delayDisplay("Workflow on the sample phantom (about a minute)")
        logic = _moduleLogic()
        volume = logic.loadSample()
        workDir = slicer.util.tempDirectory("SpineFractureTest")
        run = logic.startAnalysis(volume, workDir, _python(), device="cpu")
        self.assertEqual(run.wait(900), 0, run.error_message())
        results = logic.loadResults(volume, os.path.join(workDir, "out"))
        segmentation = results.segmentation.GetSegmentation()
        self.assertGreaterEqual(segmentation.GetNumberOfSegments(), 5)
        findings = logic.tableFindings(results.table)
        level = max((v.fracture_probability or 0.0, v.level) for v in findings.vertebrae)[1]
        self.assertTrue(logic.jumpToLevel(results.table, level))
        logic.setThreshold(results.table, 0.99)
        logic.setReview(results.table, level, "rejected")
        self.assertEqual(logic.tableFindings(results.table).level(level).review, "rejected")

        labels, _ignored = logic.labelsFromSegmentation(results.segmentation, volume)
        value = int(level[1])
        half = (labels == value) & (np.arange(labels.shape[0])[:, None, None] < np.median(np.nonzero(labels == value)[0]))
        slicer.util.updateSegmentBinaryLabelmapFromArray(((labels == value) & ~half).astype(np.uint8),
                                                         results.segmentation, level, volume)
        run = logic.startReclassify(volume, results.segmentation, os.path.join(workDir, "again"),
                                    _python(), device="cpu")
        self.assertEqual(run.wait(900), 0, run.error_message())
        logic.loadResults(volume, os.path.join(workDir, "again", "out"), results)
        after = logic.tableFindings(results.table).level(level)
        self.assertLess(after.volume_ml, findings.level(level).volume_ml)
        self.assertEqual(after.review, "rejected")

        with tempfile.TemporaryDirectory() as folder:
            names = {os.path.basename(p) for p in logic.exportReview(folder, volume, results)}
            self.assertIn("segmentation.seg.nrrd", names)
            self.assertIn("findings.json", names)
            case = logic.exportTrainingCase(os.path.join(folder, "training"), "test-case", volume, results)
            self.assertTrue(os.path.isfile(os.path.join(case, "labels.nii.gz")))
        shutil.rmtree(workDir, ignore_errors=True)
        self.delayDisplay("Test passed")

    def test_WidgetButtons(self):
        """Selecting a volume enables Analyze and Describe; the description shows the volume size."""
        self.delayDisplay("Widget")
        widget = slicer.util.getModuleWidget("SpineFracture")
        logic = _moduleLogic()
        node = logic.loadSample()
        widget.initializeParameterNode()
        widget._parameterNode.inputVolume = node
        self.assertTrue(widget.ui.analyzeButton.enabled)
        self.assertFalse(widget.ui.exportButton.enabled)
        widget.ui.describeButton.click()
        self.assertRegex(widget.ui.outputLabel.text, r"128\D+128\D+150 voxels")
        self.delayDisplay("Test passed")
