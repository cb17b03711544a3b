# The public names of the kquant library: this stub is their one list. At run time
# kquant/__init__.py reads it when a name is first asked for and imports that name's
# module then; type checkers read it as the package's interface ("x as x" marks a
# name as exported, PEP 484).
from .core.mapping import nearest_index as nearest_index
from .core.metrics import Distortion as Distortion
from .core.metrics import image_distortion as image_distortion
from .core.quantizer import Prepared as Prepared
from .core.quantizer import Quantized as Quantized
from .core.quantizer import as_pixels as as_pixels
from .core.quantizer import fit_palette as fit_palette
from .core.quantizer import prepare as prepare
from .core.quantizer import quantize as quantize
from .core.quantizer import quantize_to_target as quantize_to_target
from .errors import FileWarning as FileWarning
from .errors import ImageReadError as ImageReadError
from .errors import ImageTooLargeError as ImageTooLargeError
from .errors import ImageWriteError as ImageWriteError
from .errors import KquantError as KquantError
from .errors import OutputExistsError as OutputExistsError
from .errors import UnexpectedError as UnexpectedError
from .errors import UsageError as UsageError
from .io.animation import quantize_animation as quantize_animation
from .io.images import LoadedImage as LoadedImage
from .io.images import load_image as load_image
from .io.images import save_quantized as save_quantized
from .run.compress import compress_file as compress_file
from .run.report import Report as Report
from .run.report import StageSeconds as StageSeconds
from .run.shared import SharedPalette as SharedPalette
from .run.shared import shared_palette as shared_palette
from .settings import CompressSettings as CompressSettings
from .settings import FitOptions as FitOptions
from .stages import Stage as Stage

__version__: str
