# The public names of the kquant library: this stub is their one list. At run time
# kquant/__init__.py reads it (lazy_loader.attach_stub) and imports each name's module
# on first use; type checkers read it as the package's interface ("x as x" marks a
# name as exported, PEP 484).
from .animation import quantize_animation as quantize_animation
from .compress import compress_file as compress_file
from .errors import FileWarning as FileWarning
from .errors import ImageReadError as ImageReadError
from .errors import ImageTooLargeError as ImageTooLargeError
from .errors import ImageWriteError as ImageWriteError
from .errors import KquantError as KquantError
from .errors import OutputExistsError as OutputExistsError
from .errors import UnexpectedError as UnexpectedError
from .errors import UsageError as UsageError
from .images import LoadedImage as LoadedImage
from .images import load_image as load_image
from .images import save_quantized as save_quantized
from .mapping import nearest_index as nearest_index
from .metrics import Distortion as Distortion
from .metrics import image_distortion as image_distortion
from .quantizer import Prepared as Prepared
from .quantizer import Quantized as Quantized
from .quantizer import as_pixels as as_pixels
from .quantizer import fit_palette as fit_palette
from .quantizer import prepare as prepare
from .quantizer import quantize as quantize
from .quantizer import quantize_to_target as quantize_to_target
from .report import Report as Report
from .report import StageSeconds as StageSeconds
from .settings import CompressSettings as CompressSettings
from .settings import FitOptions as FitOptions
from .shared import SharedPalette as SharedPalette
from .shared import shared_palette as shared_palette
from .stages import Stage as Stage

__version__: str
