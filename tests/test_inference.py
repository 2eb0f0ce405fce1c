import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import peftkit
from peftkit import demo
from peftkit.data import load_text_classification
from peftkit.inference import evaluate, load_for_inference, predict, predict_logits


def test_predict_and_evaluate_use_text_pairs(tmp_path):
    path = demo.write_tiny_model(tmp_path / "m")
    model = peftkit.get_strategy("head").apply(AutoModelForSequenceClassification.from_pretrained(path, num_labels=2))
    tokenizer = AutoTokenizer.from_pretrained(path)
    peftkit.save(model, tmp_path / "saved", base_model=str(path), label_names=["0", "1"], tokenizer=tokenizer)
    model, tokenizer = load_for_inference(tmp_path / "saved")

    rows = [{"sentence1": f"the film is {a}", "sentence2": f"the plot is {b}", "label": i % 2}
            for i, (a, b) in enumerate([("great", "dull"), ("dull", "great"), ("funny", "bland"), ("bland", "funny")] * 4)]
    pd.DataFrame(rows).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(rows[:8]).to_csv(tmp_path / "validation.csv", index=False)
    data = load_text_classification(str(tmp_path))
    assert data.text_pair_column == "sentence2"

    logits = predict_logits(model, tokenizer, list(data.eval["text"]), list(data.eval["text_pair"]))
    with torch.no_grad():
        expected = model(**tokenizer(list(data.eval["text"]), list(data.eval["text_pair"]), padding=True,
                                     return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    result = evaluate(model, tokenizer, data)
    assert result["accuracy"] == float((expected.argmax(-1) == np.array(data.eval["label"])).mean())
    assert result["confusion_matrix"].sum() == 8 and "macro avg" in result["report"]
    assert [p["label"] for p in predict(model, tokenizer, ["the film is great"])][0] in ("0", "1")


def test_decoder_predictions_do_not_depend_on_padding(tmp_path):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    bert = demo.write_tiny_model(tmp_path / "bert")
    tokenizer = AutoTokenizer.from_pretrained(bert)  # pads on the right, as most tokenizers do
    torch.manual_seed(0)
    LlamaForSequenceClassification(LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                               num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
                                               pad_token_id=tokenizer.pad_token_id)).save_pretrained(tmp_path / "llama")
    model = peftkit.get_strategy("lora").apply(AutoModelForSequenceClassification.from_pretrained(tmp_path / "llama"))
    peftkit.save(model, tmp_path / "saved", base_model=str(tmp_path / "llama"), tokenizer=tokenizer)
    model, tokenizer = load_for_inference(tmp_path / "saved")
    assert tokenizer.padding_side == "left"
    alone = predict_logits(model, tokenizer, ["the film is great"])
    batched = predict_logits(model, tokenizer, ["the film is great", "honestly , the plot felt dull and lifeless"])
    np.testing.assert_allclose(batched[:1], alone, rtol=1e-4, atol=1e-5)
