"""Widths shared by the torch-free registry (parameter counts) and the torch model."""


def swiglu_hidden(d_model: int) -> int:
    """SwiGLU's hidden width: 8d/3 (three matrices ~ the 4d MLP's two), rounded up to 8."""
    return 8 * -(-d_model // 3)  # 8 * ceil((8d/3) / 8), in integers
