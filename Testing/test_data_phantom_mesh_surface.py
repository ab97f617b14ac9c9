"""Mesh surfaces in the phantom frame: the body squeeze acts on the mesh's points in front of the
posterior wall only, and voxelising gives a mask of the enclosed volume."""

import numpy as np
import pytest

from SpineFractureLib.data.phantom.mesh_surface import narrowed_body, voxelise


def test_narrowing_squeezes_the_body_and_spares_what_lies_behind_it():
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    parts = vtk.vtkAppendPolyData()
    for centre in ((10.0, -5.0, 0.0), (20.0, 30.0, 0.0)):  # a body-side point and a transverse process
        ball = vtk.vtkSphereSource()
        ball.SetCenter(*centre)
        ball.SetRadius(2.0)
        parts.AddInputConnection(ball.GetOutputPort())
    parts.Update()
    before = vtk_to_numpy(parts.GetOutput().GetPoints().GetData()).copy()
    after = vtk_to_numpy(narrowed_body(parts.GetOutput(), np.zeros(3), (16.0, 15.0, 12.0), 0.7).GetPoints().GetData())
    front, back = before[:, 1] < 0, before[:, 1] > 20
    assert np.allclose(after[front, 0], 0.7 * before[front, 0], atol=1e-4)
    assert np.allclose(after[back], before[back]) and np.allclose(after[:, 1:], before[:, 1:])
    assert np.allclose(vtk_to_numpy(parts.GetOutput().GetPoints().GetData()), before)  # input left as it was


def test_voxelised_sphere_has_its_volume_and_place():
    import vtk

    ball = vtk.vtkSphereSource()
    ball.SetCenter(5.0, -3.0, 2.0)
    ball.SetRadius(6.0)
    ball.SetThetaResolution(64)
    ball.SetPhiResolution(64)
    ball.Update()
    mask, lo = voxelise(ball.GetOutput(), 0.5)
    assert mask.sum() * 0.125 == pytest.approx(4 / 3 * np.pi * 6.0 ** 3, rel=0.03)
    centre_uvw = lo + np.argwhere(mask).mean(axis=0)[::-1] * 0.5  # mask axes are (w, v, u)
    assert np.allclose(centre_uvw, [5.0, -3.0, 2.0], atol=0.1)
