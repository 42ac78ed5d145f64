"""The browser playground's rendering of Slack mrkdwn and blocks: what Slack shows, and never injected HTML."""

from __future__ import annotations

from playground.mrkdwn_html import blocks_to_html, mrkdwn_to_html


def names(identifier: str) -> str:
    return {"U1": "Alice Archer", "C1": "general"}.get(identifier, identifier)


def test_inline_formatting_links_and_mentions() -> None:
    html = mrkdwn_to_html(
        "*bold* _italic_ ~gone~ `x < y` <https://a.example/?q=1&amp;r=2|docs> <@U1> <#C1> :warning:", names, names
    )
    assert "<strong>bold</strong>" in html and "<em>italic</em>" in html and "<del>gone</del>" in html
    assert "<code>x &lt; y</code>" in html
    assert '<a href="https://a.example/?q=1&amp;r=2" target="_blank" rel="noopener noreferrer">docs</a>' in html
    assert '<span class="mention">@Alice Archer</span>' in html and '<span class="mention">#general</span>' in html
    assert "⚠️" in html


def test_code_blocks_quotes_bullets_and_line_breaks() -> None:
    html = mrkdwn_to_html("Steps:\n• one *two*\n```\n*not bold* <b>\n```\n> quoted")
    assert "Steps:<br>• one <strong>two</strong>" in html
    assert "<pre><code>*not bold* &lt;b&gt;</code></pre>" in html
    assert "<blockquote>quoted</blockquote>" in html


def test_nothing_the_bot_writes_becomes_markup() -> None:
    html = mrkdwn_to_html('<script>alert(1)</script> <javascript:alert(1)|click> "quoted" <img src=x onerror=y>')
    assert "<script" not in html and "<img" not in html and "href" not in html
    assert "click" in html


def test_escaped_control_syntax_shows_as_text_as_slack_shows_it() -> None:
    html = mrkdwn_to_html("Entities: &lt;!channel&gt; &lt;@U1&gt; and a real <!here>\n&gt; quoted", names, names)
    assert 'Entities: &lt;!channel&gt; &lt;@U1&gt; and a real <span class="mention">@here</span>' in html
    assert html.count('class="mention"') == 1 and "<blockquote>quoted</blockquote>" in html


def test_blocks_render_with_buttons_from_the_given_renderer() -> None:
    def button(element: dict, index: int) -> str:
        return f"<button>{element['text']['text']}:{element['action_id']}</button>"

    html = blocks_to_html(
        [
            {"type": "header", "text": {"type": "plain_text", "text": "Usage <today>"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*12* requests"}},
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "_since Monday_"}]},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "stop_generation",
                        "value": "s1",
                        "text": {"type": "plain_text", "text": "Stop"},
                    }
                ],
            },
        ],
        button,
    )
    assert '<h3 class="block header">Usage &lt;today&gt;</h3>' in html
    assert "<strong>12</strong> requests" in html and '<hr class="block divider">' in html
    assert "<em>since Monday</em>" in html and "<button>Stop:stop_generation</button>" in html


def test_markdown_blocks_and_feedback_buttons_render_as_slack_shows_them() -> None:
    from bot.slack.feedback import FEEDBACK, feedback_block

    def button(element: dict, index: int) -> str:
        return f"<button>{element['text']['text']}:{element['action_id']}:{element['value']}</button>"

    html = blocks_to_html([{"type": "markdown", "text": "## Refunds\n**full** <b>"}, feedback_block("r1")], button)
    assert "<strong>Refunds</strong>" in html and "<strong>full</strong>" in html and "<b>" not in html
    assert f"<button>👍:{FEEDBACK}:up:r1</button><button>👎:{FEEDBACK}:down:r1</button>" in html


def test_the_agent_surface_renders_status_prompts_and_plan_safely() -> None:
    from playground.agent_surface import plan_html, prompts_html, status_html

    status = status_html({"status": "is thinking…", "loading_messages": ["Reading <it>…", "Checking…"]}, "Team AI")
    assert 'role="status"' in status and "is thinking…" in status and "Reading &lt;it&gt;…" in status
    prompts = prompts_html(
        {"title": "Try", "prompts": [{"title": "Ask <docs>", "message": 'docs: "deploys"'}]}, "D1", "17.1"
    )
    assert 'data-prompt="docs: &quot;deploys&quot;"' in prompts and ">Ask &lt;docs&gt;</button>" in prompts
    plan = plan_html(
        {
            "plan": {"title": "add <two>"},
            "tasks": [{"id": "step-1", "title": "calculate: 2 + 3", "status": "complete", "output": "5"}],
        }
    )
    assert "add &lt;two&gt;" in plan and 'class="task complete"' in plan and "calculate: 2 + 3" in plan
    assert plan_html({"text": "plain"}) == ""


def test_a_modal_renders_its_inputs_safely_and_submits_slacks_state_shape() -> None:
    from handlers.shortcuts import digest_view
    from playground.modal import missing, modal_html, state_values

    view = {"id": "V1", **digest_view()}
    page = modal_html(view, [("C1", "#gen<b>")], names)
    assert 'role="dialog"' in page and ">Request a digest</h2>" in page and "#gen&lt;b&gt;" in page
    assert 'data-block="channels"' in page and "multiple" in page and 'type="radio"' in page
    assert ">Start</button>" in page and ">Cancel</button>" in page
    values = state_values(view, {"channels": {"channels": ["C1"]}, "window": {"window": "7d"}, "delivery": {}})
    assert values["channels"]["channels"] == {"type": "multi_conversations_select", "selected_conversations": ["C1"]}
    assert values["window"]["window"]["selected_option"]["value"] == "7d"
    assert values["delivery"]["delivery"] == {"type": "radio_buttons", "selected_option": None}
    assert missing(view, values) == {"delivery": "Please complete this required field."}
