"""Build hook: generate the KEDA external-scaler gRPC stubs from hook/proto/externalscaler.proto with
grpcio-tools, for wheels and editable installs alike (the generated files are not committed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PROTO = "gpufleet/hook/proto/externalscaler.proto"


def generate(root: Path) -> list[str]:
    """Run protoc; returns the generated files relative to `root`."""
    import importlib.resources

    from grpc_tools import protoc

    src = root / "src"
    include = str(importlib.resources.files("grpc_tools") / "_proto")
    args = ["protoc", f"-I{src}", f"-I{include}", f"--python_out={src}", f"--pyi_out={src}", f"--grpc_python_out={src}"]
    if protoc.main([*args, str(src / PROTO)]) != 0:
        raise RuntimeError(f"protoc failed on {PROTO}")
    stem = PROTO.removesuffix(".proto")
    return [f"src/{stem}{suffix}" for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")]


class ProtoBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        build_data["artifacts"].extend(generate(Path(self.root)))


if __name__ == "__main__":  # `python hatch_build.py`: regenerate in a checkout
    print("\n".join(generate(Path(__file__).resolve().parent)))
