from __future__ import annotations

from codeward.finetune.tiny import EOS, SPECIAL_TOKENS, fim_text, read_texts, train_tokenizer


def test_tokenizer_round_trips_and_has_fim_tokens(small_corpus):
    texts = list(read_texts(sorted(small_corpus.glob("*.py"))))
    tok = train_tokenizer(texts, vocab_size=600)
    vocab = tok.get_vocab()
    for i, special in enumerate(SPECIAL_TOKENS):
        assert vocab[special] == i
    samples = [texts[0][:2000], "def f(x):\n\tréturn {'ü': x}  # ☃\n", "x = 1\r\n\n\n    y\n"]
    for text in samples:
        enc = tok.encode(text)
        assert tok.decode(enc.ids) == text
    fim = fim_text("def add(a, b):\n    ", "return a + b\n", "\n", spm=False)
    ids = tok.encode(fim).ids
    for special in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", EOS):
        assert ids.count(vocab[special]) == 1
    assert ids[0] == vocab["<fim_prefix>"] and ids[-1] == vocab[EOS]
    spm = tok.encode(fim_text("a = 1\n", "b = 2\n", "c = 3\n", spm=True)).ids
    assert spm[:2] == [vocab["<fim_prefix>"], vocab["<fim_suffix>"]]
    assert tok.decode(spm, skip_special_tokens=True) == "c = 3\na = 1\nb = 2\n"
