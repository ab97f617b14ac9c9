"""The packaged vertebra surface meshes as VTK surfaces in the phantom's frame, and their voxel masks.

Reading, cleaning, subdividing and smoothing a mesh, turning it, squeezing its body, and
voxelising it: the VTK half of :mod:`~SpineFractureLib.data.phantom.mesh_anatomy`, which turns
the masks into signed-distance templates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

Array = np.ndarray
#: OpenSim (X anterior, Y superior, Z right) to the phantom frame (u left, v posterior, w superior).
OPENSIM_TO_LOCAL = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def smoothed_surface(path: Path):
    import vtk

    reader = vtk.vtkXMLPolyDataReader()
    reader.SetFileName(str(path))
    steps = [vtk.vtkCleanPolyData(), vtk.vtkTriangleFilter(), vtk.vtkFillHolesFilter(),
             vtk.vtkLoopSubdivisionFilter(), vtk.vtkWindowedSincPolyDataFilter()]
    steps[2].SetHoleSize(1000.0)  # C1's mesh has small open gaps; the others are closed
    steps[3].SetNumberOfSubdivisions(2)
    steps[4].SetNumberOfIterations(20)
    steps[4].SetPassBand(0.1)
    steps[4].NonManifoldSmoothingOn()
    steps[4].NormalizeCoordinatesOn()
    last = reader
    for f in steps:
        f.SetInputConnection(last.GetOutputPort())
        last = f
    transform = vtk.vtkTransform()  # metres in OpenSim axes -> mm in the local frame
    m = np.eye(4)
    m[:3, :3] = OPENSIM_TO_LOCAL * 1000.0
    transform.SetMatrix(m.ravel().tolist())
    moved = vtk.vtkTransformPolyDataFilter()
    moved.SetTransform(transform)
    moved.SetInputConnection(last.GetOutputPort())
    moved.Update()
    surface = moved.GetOutput()
    if surface.GetNumberOfPoints() == 0:
        raise ValueError(f"{path}: no surface could be read from this mesh file")
    return surface


def rotated_about_u(surface, centre: Array, degrees: float):
    """``surface`` turned by ``degrees`` about the u axis through ``centre`` (v towards w positive)."""
    import vtk

    t = vtk.vtkTransform()
    t.Translate(*centre)
    t.RotateX(degrees)
    t.Translate(*(-centre))
    f = vtk.vtkTransformPolyDataFilter()
    f.SetTransform(t)
    f.SetInputData(surface)
    f.Update()
    return f.GetOutput()


def narrowed_body(surface, centre: Array, body: tuple[float, float, float], ratio: float):
    """``surface`` with its vertebral body narrowed left-right by ``ratio`` about ``centre``.

    The squeeze u -> centre + ratio·(u − centre) is full in front of the body's centre and fades
    linearly to none 4 mm behind its posterior wall, so the pedicles, transverse processes,
    canal and arch keep their real widths. Applied to the mesh's points before voxelising, the
    signed distance stays exact (a squeezed distance field would not be).
    """
    from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    points = vtk_to_numpy(surface.GetPoints().GetData()).astype(float)
    v = points[:, 1] - centre[1]
    back = body[1] / 2 + 4.0
    f = ratio + (1.0 - ratio) * np.clip(v / back, 0.0, 1.0)
    points[:, 0] = centre[0] + f * (points[:, 0] - centre[0])
    out = type(surface)()
    out.DeepCopy(surface)
    out.GetPoints().SetData(numpy_to_vtk(points, deep=True))
    return out


def voxelise(surface, spacing: float) -> tuple[Array, Array]:
    """Inside mask (w, v, u) of a closed surface on a grid of ``spacing`` mm, and the (u, v, w) of voxel 0."""
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    b = np.array(surface.GetBounds()).reshape(3, 2)
    lo = np.floor(b[:, 0] - 3.0)
    n = np.ceil((b[:, 1] + 3.0 - lo) / spacing).astype(int) + 1
    image = vtk.vtkImageData()
    image.SetOrigin(*lo)
    image.SetSpacing(*([spacing] * 3))
    image.SetDimensions(*n)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    image.GetPointData().GetScalars().Fill(1)
    stencil = vtk.vtkPolyDataToImageStencil()
    stencil.SetInputData(surface)
    stencil.SetOutputOrigin(*lo)
    stencil.SetOutputSpacing(*([spacing] * 3))
    stencil.SetOutputWholeExtent(image.GetExtent())
    cut = vtk.vtkImageStencil()
    cut.SetInputData(image)
    cut.SetStencilConnection(stencil.GetOutputPort())
    cut.SetBackgroundValue(0)
    cut.Update()
    mask = vtk_to_numpy(cut.GetOutput().GetPointData().GetScalars()).reshape(n[::-1]).astype(bool)
    return mask, lo


__all__ = ["OPENSIM_TO_LOCAL", "narrowed_body", "rotated_about_u", "smoothed_surface", "voxelise"]
