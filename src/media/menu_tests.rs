//! The menu on a virtual clock: a choice, barge-in, invalid keys, silence, the default.

use super::*;

fn key(c: char) -> Digit {
    Digit::from_char(c).unwrap()
}

fn spec(retries: u32) -> MenuSpec {
    MenuSpec {
        choices: vec![(key('1'), "sales".into()), (key('2'), "service".into())],
        default: "main".into(),
        timeout: Duration::from_secs(5),
        retries,
    }
}

fn route(branch: &str, reason: ChoiceReason) -> Option<MenuAction> {
    Some(MenuAction::Route(Choice {
        branch: branch.into(),
        reason,
    }))
}

#[test]
fn a_key_after_the_greeting_takes_its_branch() {
    let t0 = Instant::now();
    let (mut menu, first) = Menu::start(spec(1));
    assert_eq!(first, MenuAction::Play(MenuPrompt::Greeting));
    menu.prompt_finished(t0 + Duration::from_secs(3));
    let action = menu.on_digit(t0 + Duration::from_secs(4), key('2'));
    assert_eq!(action, route("service", ChoiceReason::Key(key('2'))));
    assert_eq!(menu.poll_timeout(), None);
    assert_eq!(menu.on_digit(t0 + Duration::from_secs(5), key('1')), None);
}

#[test]
fn a_key_during_the_greeting_barges_in() {
    let (mut menu, _) = Menu::start(spec(0));
    let action = menu.on_digit(Instant::now(), key('1'));
    assert_eq!(action, route("sales", ChoiceReason::Key(key('1'))));
}

#[test]
fn silence_replays_the_greeting_then_takes_the_default() {
    let t0 = Instant::now();
    let (mut menu, _) = Menu::start(spec(2));
    let mut t = t0;
    for _ in 0..2 {
        t += Duration::from_secs(3);
        menu.prompt_finished(t);
        assert_eq!(menu.handle_timeout(t + Duration::from_millis(4999)), None);
        t += Duration::from_secs(5);
        assert_eq!(menu.poll_timeout(), Some(t));
        assert_eq!(
            menu.handle_timeout(t),
            Some(MenuAction::Play(MenuPrompt::Greeting))
        );
        assert_eq!(
            menu.poll_timeout(),
            None,
            "no timeout while the greeting replays"
        );
    }
    menu.prompt_finished(t + Duration::from_secs(3));
    let action = menu.handle_timeout(t + Duration::from_secs(8));
    assert_eq!(action, route("main", ChoiceReason::Timeout));
}

#[test]
fn an_invalid_key_is_told_so_and_the_greeting_replays() {
    let t0 = Instant::now();
    let (mut menu, _) = Menu::start(spec(1));
    menu.prompt_finished(t0);
    let action = menu.on_digit(t0, key('9'));
    assert_eq!(
        action,
        Some(MenuAction::Play(MenuPrompt::InvalidThenGreeting))
    );
    menu.prompt_finished(t0 + Duration::from_secs(4));
    let action = menu.on_digit(t0 + Duration::from_secs(5), key('1'));
    assert_eq!(action, route("sales", ChoiceReason::Key(key('1'))));
}

#[test]
fn invalid_keys_past_the_retries_take_the_default() {
    let t0 = Instant::now();
    let (mut menu, _) = Menu::start(spec(0));
    let action = menu.on_digit(t0, key('*'));
    assert_eq!(action, route("main", ChoiceReason::Invalid(key('*'))));
}

#[test]
fn the_trail_says_which_key_took_which_branch() {
    let choice = |reason| Choice {
        branch: "sales".into(),
        reason,
    };
    assert_eq!(choice(ChoiceReason::Key(key('1'))).trail(), "menu 1>sales");
    assert_eq!(choice(ChoiceReason::Timeout).trail(), "menu timeout>sales");
    assert_eq!(
        choice(ChoiceReason::Invalid(key('#'))).trail(),
        "menu invalid #>sales"
    );
}
