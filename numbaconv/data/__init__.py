"""Data for training: image folders, IDX files, downloads, DataLoader, Normalize and plots.

The bundled MNIST sample lives in :mod:`numbaconv.datasets`; this package loads users' own data
(fastai-style image folders, MNIST-style IDX files), fetches archives with checksums, batches
arrays for training and draws them (matplotlib, optional).
"""

from .download import (
    SOURCES,
    ChecksumError,
    DataSource,
    DownloadError,
    UnsafeArchiveError,
    default_data_root,
    download,
    untar_data,
)
from .folders import (
    IMAGE_EXTENSIONS,
    ImageFolderData,
    ImageFolderError,
    ImageReadError,
    ImageSplit,
    get_image_files,
    image_folder_dataset,
    read_image,
    resize_image,
)
from .idx import IDX_DTYPES, IDXFormatError, idx_folder_dataset, load_idx_dataset, read_idx
from .loader import DataLoader, DataLoaders, Normalize
from .show import show_batch, show_image

__all__ = [
    "IDX_DTYPES",
    "IMAGE_EXTENSIONS",
    "SOURCES",
    "ChecksumError",
    "DataLoader",
    "DataLoaders",
    "DataSource",
    "DownloadError",
    "IDXFormatError",
    "ImageFolderData",
    "ImageFolderError",
    "ImageReadError",
    "ImageSplit",
    "Normalize",
    "UnsafeArchiveError",
    "default_data_root",
    "download",
    "get_image_files",
    "idx_folder_dataset",
    "image_folder_dataset",
    "load_idx_dataset",
    "read_idx",
    "read_image",
    "resize_image",
    "show_batch",
    "show_image",
    "untar_data",
]
