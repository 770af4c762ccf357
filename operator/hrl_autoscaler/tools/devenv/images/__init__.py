"""Container images without a registry or a Docker engine (issue 18, item 3).

The project's real ``Dockerfile`` is built by Debian's buildah on a Debian bookworm base made
with debootstrap, exported as an OCI archive in the project cache, and imported into a
containerd namespace with ``ctr``, where kubelet runs it as the Helm chart asks:

    built = ensure_operator_image()          # cached by the content hash of every input
    # ensure_spark_image(): the Spark driver/executor image (target spark-job), same way
    ref = import_image(built.archive, "/run/containerd/containerd.sock")
    # helm install ... --set image.repository=localhost/spark-hrl-autoscaler
    #                  --set image.tag=<version> --set image.pullPolicy=Never

Modules: ``settings`` (what a build is made of), ``hashing`` (the cache key), ``commands``
(command lines, the logged runner, error hints), ``checks`` (root, tools, network), ``base``
(debootstrap to a base image), ``build`` (the Dockerfile to an archive), ``containerd``
(the import), ``cli`` (``hrl-autoscaler dev image``).
"""

from hrl_autoscaler.tools.devenv.images.build import (
    BuiltImage,
    ensure_image,
    ensure_operator_image,
    ensure_spark_image,
)
from hrl_autoscaler.tools.devenv.images.commands import ImageBuildError
from hrl_autoscaler.tools.devenv.images.containerd import import_image
from hrl_autoscaler.tools.devenv.images.settings import (
    BaseSettings,
    ImageSettings,
    OperatorSettings,
    SparkImageSettings,
    StorageSettings,
    image_settings,
)

__all__ = [
    "BaseSettings",
    "BuiltImage",
    "ImageBuildError",
    "ImageSettings",
    "OperatorSettings",
    "SparkImageSettings",
    "StorageSettings",
    "ensure_image",
    "ensure_operator_image",
    "ensure_spark_image",
    "image_settings",
    "import_image",
]
