"""Every sentence akarom shows a person, in Japanese (the default) and English.

One catalogue, keyed by what is being said (a status, a verdict, an error code),
so the CLI, the API and the web pages say the same thing in the same words.

>>> text("status.pending.meaning", "en")
'payment remains; it can still become restricted'
>>> text("verdict.red.headline", "ja")
'赤ロムです（ネットワーク利用制限中）'
"""

from __future__ import annotations

from typing import Literal

__all__ = ["CATALOGUE", "Lang", "text"]

Lang = Literal["ja", "en"]

CATALOGUE: dict[str, tuple[str, str]] = {
    # --- carriers -------------------------------------------------------------
    "carrier.docomo": ("ドコモ", "docomo"),
    "carrier.au": ("au (KDDI)", "au (KDDI)"),
    "carrier.softbank": ("ソフトバンク", "SoftBank"),
    "carrier.rakuten": ("楽天モバイル", "Rakuten Mobile"),
    # --- what a carrier's answer means ------------------------------------------
    "status.ok.meaning": (
        "支払い完了・制限なし",
        "paid for; not restricted",
    ),
    "status.pending.meaning": (
        "支払い中などで、今後制限される可能性あり",
        "payment remains; it can still become restricted",
    ),
    "status.restricted.meaning": (
        "ネットワーク利用制限中（赤ロム）",
        "restricted (赤ロム): no calls or mobile data on this carrier",
    ),
    "status.unregistered.meaning": (
        "このキャリアの記録なし（販売元ではない・SIMフリー・反映待ち）",
        "no record at this carrier (not sold by it, SIM-free, or not yet reflected)",
    ),
    "status.unknown.meaning": (
        "確認できませんでした",
        "could not be checked",
    ),
    # --- verdicts ---------------------------------------------------------------
    "verdict.clear.headline": ("利用制限はありません", "No network restriction"),
    "verdict.caution.headline": (
        "注意: 今後、赤ロムになる可能性があります",
        "Caution: this device can still become restricted",
    ),
    "verdict.red.headline": (
        "赤ロムです（ネットワーク利用制限中）",
        "Red: the device is restricted",
    ),
    "verdict.incomplete.headline": (
        "判定できません（確認できなかったキャリアがあります）",
        "Incomplete: some carriers could not be checked",
    ),
    "verdict.invalid.headline": ("IMEI が正しくありません", "Not a valid IMEI"),
    # --- basic advice per verdict ------------------------------------------------
    "advice.clear.summary": (
        "販売元キャリアの記録では制限はありません。",
        "The selling carrier's record shows no restriction.",
    ),
    "advice.clear.unregistered.summary": (
        "どのキャリアにも記録がありません（SIMフリー端末などに多い状態です）。",
        "No carrier has a record of this device (usual for SIM-free phones).",
    ),
    "advice.clear.action.recheck_new": (
        "購入・修理の直後は反映に2日ほどかかります。心配なら数日後に再確認してください。",
        "Records take about two days to update after a purchase or repair; re-check later if "
        "in doubt.",
    ),
    "advice.clear.action.keep_record": (
        "IMEI と確認日時を取引の記録として残しておきましょう。",
        "Keep the IMEI and this check's date with the sale record.",
    ),
    "advice.caution.summary": (
        "残債などがあり、元の持ち主の支払いが止まると赤ロムになる可能性があります。",
        "Payments remain; if the original owner stops paying, it can become restricted.",
    ),
    "advice.caution.action.ask_proof": (
        "購入前なら、売り手に完済の証明か赤ロム保証を求めてください。",
        "Before buying, ask the seller for proof of payoff or a 赤ロム guarantee.",
    ),
    "advice.caution.action.docomo_new": (
        "ドコモは購入直後の一定期間、一括購入でも△を表示します。しばらくして再確認してください。",
        "docomo shows △ for a while after every new purchase, even one paid in full; "
        "re-check later.",
    ),
    "advice.red.summary": (
        "販売元キャリアの回線では通話もモバイル通信もできません。制限は原則解除されません。",
        "No calls or mobile data on the selling carrier's network; restrictions are not lifted.",
    ),
    "advice.red.action.dont_buy": (
        "購入前なら買わないでください。フリマアプリでは出品できません。",
        "Do not buy it; marketplaces forbid listing it.",
    ),
    "advice.red.action.contact_seller": (
        "購入済みなら、まず売り手に返品・赤ロム保証を相談してください。",
        "If you already bought it, contact the seller about a return or the 赤ロム guarantee.",
    ),
    "advice.red.action.other_networks": (
        "Wi-Fi や（SIMロック解除済みなら）他社回線では使える場合がありますが、盗難品の可能性も"
        "あるため積極的な利用はおすすめしません。",
        "It may work on Wi-Fi or (if SIM-unlocked) on another carrier, but it may be stolen; "
        "active use is not recommended.",
    ),
    "advice.incomplete.summary": (
        "確認できなかったキャリアがあるため、安全とは言えません。",
        "Some carriers could not be checked, so this is not a safe answer.",
    ),
    "advice.incomplete.action.retry": (
        "時間をおいて再確認してください。",
        "Check again later.",
    ),
    "advice.incomplete.action.manual": (
        "急ぐ場合は、各キャリアの確認ページで IMEI を入力して直接確認できます。",
        "If it is urgent, enter the IMEI on the carrier's own check page.",
    ),
    "advice.invalid.summary": (
        "入力された値は IMEI として正しくないため、どのキャリアにも問い合わせていません。",
        "The value is not a valid IMEI, so no carrier was asked.",
    ),
    "advice.invalid.action.find_imei": (
        "電話アプリで *#06# と入力すると IMEI（15桁）が表示されます。",
        "Dial *#06# in the phone app to show the 15-digit IMEI.",
    ),
    # --- why an IMEI is invalid ---------------------------------------------------
    "imei.empty": ("IMEI が入力されていません", "nothing was entered"),
    "imei.characters": (
        "IMEI に使えない文字が含まれています（数字15桁で入力してください）",
        "contains characters an IMEI cannot have (enter the 15 digits)",
    ),
    "imei.length": (
        "桁数が正しくありません（IMEI は15桁です）",
        "wrong number of digits (an IMEI has 15)",
    ),
    "imei.length.14": (
        "14桁です。IMEI は15桁です。最後のチェック用の1桁が抜けていないか確認してください",
        "14 digits: an IMEI has 15; the last (check) digit seems to be missing",
    ),
    "imei.checksum": (
        "チェック用の数字が合いません。入力ミスがないか確認してください",
        "the check digit does not match; a digit is probably mistyped",
    ),
    # --- why a carrier gave no answer ----------------------------------------------
    "error.timeout": ("応答がありませんでした（タイムアウト）", "no answer in time (time-out)"),
    "error.unavailable": (
        "確認ページに接続できませんでした",
        "the check page could not be reached",
    ),
    "error.maintenance": ("確認ページがメンテナンス中です", "the check page is under maintenance"),
    "error.rate_limited": (
        "問い合わせが多すぎるため、キャリアに待つよう求められました",
        "the carrier asked us to slow down",
    ),
    "error.captcha": (
        "画像認証が表示されました（自動では回答しません）",
        "the carrier showed a captcha (akarom never answers one by machine)",
    ),
    "error.blocked": (
        "キャリアが自動での確認を拒否しました",
        "the carrier refused automated access",
    ),
    "error.rejected": (
        "キャリアが IMEI を受け付けませんでした",
        "the carrier did not accept the IMEI",
    ),
    "error.unrecognised_page": (
        "確認ページの内容を読み取れませんでした（ページが変わった可能性）",
        "the check page could not be read (its layout may have changed)",
    ),
    "error.skipped": ("問い合わせていません", "not asked"),
    "error.unsupported": (
        "このキャリアは MEID に対応していません",
        "this carrier does not take a MEID",
    ),
    "error.cancelled": ("中断されました", "interrupted"),
    "error.error": ("確認中にエラーが発生しました", "an error occurred during the check"),
    "verdict.clear.short": ("問題なし", "clear"),
    "verdict.caution.short": ("注意（△）", "caution"),
    "verdict.red.short": ("赤ロム（×）", "red"),
    "verdict.incomplete.short": ("判定保留", "incomplete"),
    "verdict.invalid.short": ("IMEI 不正", "invalid"),
    # --- ages -------------------------------------------------------------------------
    "age.now": ("たった今", "just now"),
    "age.minute": ("{n}分前", "{n} min ago"),
    "age.hour": ("{n}時間前", "{n} h ago"),
    "age.day": ("{n}日前", "{n} d ago"),
    # --- bulk -------------------------------------------------------------------------
    "bulk.progress": ("確認中", "Checking"),
    "bulk.summary": ("結果の内訳", "Verdicts"),
    "bulk.rows": ("行数", "Rows"),
    "bulk.totals": (
        "{rows} 行を {output} に書き出しました（{seconds:.1f} 秒）。問い合わせた端末 {devices} 台・"
        "キャリアへの確認 {checks} 回・保存済みの結果を利用 {cached} 件・重複行 {duplicates} 行・"
        "前回の続き {resumed} 行。",
        "Wrote {rows} rows to {output} in {seconds:.1f} s: {devices} devices checked, "
        "{checks} carrier checks, {cached} stored answers reused, {duplicates} duplicate rows, "
        "{resumed} rows carried over from the interrupted run.",
    ),
    "bulk.paused": (
        "{carrier} は途中で一時停止しました（{reason}）。該当する行は判定保留です。"
        "公式ページで確認した結果は `akarom manual IMEI --carrier {id}` で記録でき、"
        "もう一度 bulk を実行すると反映されます。",
        "{carrier} was paused during the run ({reason}); its rows are incomplete. Record "
        "what a person reads on its page with `akarom manual IMEI --carrier {id}`, then run "
        "bulk again to use it.",
    ),
    "bulk.file_error": ("ファイルを処理できません", "cannot use the file"),
    "bulk.interrupted": (
        "中断しました。終わった行は保存されています。"
        "同じコマンドに --resume を付けると続きから再開します（{input} → {output}）。",
        "Interrupted. Finished rows are saved; run the same command with --resume to "
        "continue ({input} → {output}).",
    ),
    # --- history ------------------------------------------------------------------------
    "history.none": ("{imei} の確認履歴はありません", "No answers are stored for {imei}"),
    "history.source": ("取得元・証拠", "Source / evidence"),
    "history.pages": ("ページ {count} 件", "{count} page(s)"),
    "history.exported": (
        "証拠のページ {count} 件を {folder} に書き出しました",
        "Wrote {count} evidence page(s) to {folder}",
    ),
    # --- manual ----------------------------------------------------------------------------
    "manual.instructions": (
        "{carrier} の公式確認ページを開き、IMEI（製造番号）{imei} を入力してください:\n  {url}",
        "Open {carrier}'s own check page and enter the IMEI {imei}:\n  {url}",
    ),
    "manual.prompt": (
        "表示された記号を入力してください（○ △ × -）",
        "Type the symbol the page shows (○ △ × -)",
    ),
    "manual.need_symbol": (
        "記号を --symbol で指定してください（入力待ちができません）",
        "give the symbol with --symbol (cannot ask for it here)",
    ),
    "manual.recorded": (
        "{carrier}: {symbol}（{meaning}）を {who} さんの手入力として記録しました",
        "Recorded {carrier}: {symbol} ({meaning}), entered by {who}",
    ),
    "error.paused": (
        "このキャリアは一時停止中です（ブロックまたは画像認証）",
        "this carrier is paused (blocked or captcha)",
    ),
    # --- a person in the loop ------------------------------------------------------------
    "person.captcha": (
        "{carrier} が画像認証を表示しました。画像を保存して開きました: {path}",
        "{carrier} shows a captcha. The image is saved and opened: {path}",
    ),
    "person.captcha_prompt": (
        "画像の文字を入力してください（空欄でスキップ）",
        "Type what the image shows (empty to skip)",
    ),
    "person.page_prompt": (
        "表示された記号を入力してください（○ △ × -、空欄でスキップ）",
        "Type the symbol the page shows (○ △ × -, empty to skip)",
    ),
    # --- doctor ----------------------------------------------------------------------------
    "doctor.database": ("データベース", "Database"),
    "doctor.live_site": ("公式サイト", "live site"),
    "doctor.pace": (
        "最大 {rate:g} 件/秒・同時 {concurrency} 件",
        "at most {rate:g} requests/s, {concurrency} at a time",
    ),
    "doctor.outcome.ok": ("想定どおりです", "looks as expected"),
    "doctor.outcome.changed": (
        "ページが想定と違います（要対応）",
        "the page no longer looks as expected (adapter work needed)",
    ),
    "doctor.outcome.blocked": ("アクセスを拒否されました", "refused our access"),
    "doctor.outcome.maintenance": ("メンテナンス中です", "under maintenance"),
    "doctor.outcome.captcha": ("画像認証が表示されます", "shows a captcha"),
    "doctor.outcome.rate_limited": ("アクセス過多と言われました", "asked us to slow down"),
    "doctor.outcome.timeout": ("応答がありません", "did not answer in time"),
    "doctor.outcome.unavailable": ("接続できません", "could not be reached"),
    "doctor.outcome.unrecognised_page": ("ページを読み取れません", "page not understood"),
    "doctor.outcome.error": ("点検中にエラーが発生しました", "the probe itself failed"),
    # --- labels ---------------------------------------------------------------------
    "label.verdict": ("判定", "Verdict"),
    "label.carrier": ("キャリア", "Carrier"),
    "label.result": ("結果", "Result"),
    "label.meaning": ("意味", "Meaning"),
    "label.checked_at": ("確認日時", "Checked"),
    "label.advice": ("アドバイス", "Advice"),
    "label.origin": ("販売元", "Sold by"),
    "label.valid": ("有効", "valid"),
    "label.invalid": ("無効", "invalid"),
    "label.kind.imei": ("IMEI", "IMEI"),
    "label.kind.imeisv": ("IMEISV（IMEI に変換）", "IMEISV (reduced to the IMEI)"),
    "label.kind.meid": ("MEID", "MEID"),
    "label.source.live": ("今回確認", "live"),
    "label.source.cache": ("保存済みの結果", "cached"),
    "label.source.manual": ("手入力", "entered by hand"),
    "label.carrier_says": ("キャリアの表示", "carrier's wording"),
    "label.evidence": ("証拠として保存", "kept as evidence"),
}


def text(key: str, lang: Lang = "ja") -> str:
    """The sentence for ``key`` in ``lang``; a missing key is a bug and raises ``KeyError``."""
    japanese, english = CATALOGUE[key]
    return japanese if lang == "ja" else english
