"""Hide TensorFlow (as on the GPU image) for a CPU dry run of scripts/gpu_session.sh."""
import sys

HIDDEN = ("tensorflow", "tensorflow_datasets", "tf_keras")


class _Hide:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden)", name=name)
        return None


sys.meta_path.insert(0, _Hide())
