//! The player on a virtual clock: pacing, numbering, the marker bit, padding.

use super::*;
use rtp_rs::RtpReader;

const NUMBERING: Numbering = Numbering {
    ssrc: 0x1234_5678,
    seq: 65_534,
    timestamp: u32::MAX - 100,
};

fn audio(len: usize) -> Arc<[u8]> {
    (0..len)
        .map(|i| (i % 200) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Every packet due up to `until`, stepping the clock by 1 ms, with the instant it came out.
fn drain(player: &mut Player, start: Instant, until: Duration) -> Vec<(Duration, Vec<u8>)> {
    let mut out = Vec::new();
    let mut t = Duration::ZERO;
    while t <= until {
        while let Some(p) = player.poll_transmit(start + t) {
            out.push((t, p));
        }
        t += Duration::from_millis(1);
    }
    out
}

#[test]
fn a_prompt_goes_out_in_20ms_packets_paced_by_the_clock() {
    let start = Instant::now();
    let mut player = Player::new(Codec::Pcmu, NUMBERING);
    assert_eq!(player.poll_timeout(), None);
    player.play(start, audio(800));
    assert_eq!(player.poll_timeout(), Some(start));
    let packets = drain(&mut player, start, Duration::from_secs(1));
    let times: Vec<u64> = packets.iter().map(|(t, _)| t.as_millis() as u64).collect();
    assert_eq!(times, vec![0, 20, 40, 60, 80]);
    assert!(player.is_idle());
    assert_eq!(player.poll_timeout(), None);
}

#[test]
fn numbering_runs_on_and_wraps_and_only_the_first_packet_is_marked() {
    let start = Instant::now();
    let mut player = Player::new(Codec::Pcma, NUMBERING);
    player.play(start, audio(480));
    let packets = drain(&mut player, start, Duration::from_millis(100));
    let readers: Vec<RtpReader> = packets
        .iter()
        .map(|(_, p)| RtpReader::new(p).unwrap())
        .collect();
    let seqs: Vec<u16> = readers
        .iter()
        .map(|r| u16::from(r.sequence_number()))
        .collect();
    assert_eq!(seqs, vec![65_534, 65_535, 0]);
    let ts: Vec<u32> = readers.iter().map(|r| r.timestamp()).collect();
    assert_eq!(ts, vec![u32::MAX - 100, 59, 219]);
    let marks: Vec<bool> = readers.iter().map(|r| r.mark()).collect();
    assert_eq!(marks, vec![true, false, false]);
    assert!(
        readers
            .iter()
            .all(|r| r.ssrc() == 0x1234_5678 && r.payload_type() == 8)
    );
    assert!(readers.iter().all(|r| r.payload().len() == FRAME_SAMPLES));
}

#[test]
fn a_second_talkspurt_is_marked_and_its_timestamp_counts_the_silence() {
    let start = Instant::now();
    let mut player = Player::new(Codec::Pcmu, NUMBERING);
    player.play(start, audio(320));
    let first = drain(&mut player, start, Duration::from_millis(50));
    let later = start + Duration::from_millis(1000);
    player.play(later, audio(160));
    let second = player.poll_transmit(later).unwrap();
    let a = RtpReader::new(&first[1].1).unwrap();
    let b = RtpReader::new(&second).unwrap();
    assert!(b.mark());
    assert_eq!(
        u16::from(b.sequence_number()),
        u16::from(a.sequence_number()).wrapping_add(1)
    );
    // 980 ms after the last packet's sampling instant: 7840 samples.
    assert_eq!(b.timestamp().wrapping_sub(a.timestamp()), 7840);
}

#[test]
fn the_last_packet_is_padded_with_the_codecs_silence_and_carries_the_audio_as_is() {
    let start = Instant::now();
    for (codec, silence) in [(Codec::Pcmu, 0xff), (Codec::Pcma, 0xd5)] {
        let mut player = Player::new(codec, NUMBERING);
        let sound = audio(170);
        player.play(start, sound.clone());
        let packets = drain(&mut player, start, Duration::from_millis(60));
        assert_eq!(packets.len(), 2);
        let payload: Vec<u8> = packets
            .iter()
            .flat_map(|(_, p)| RtpReader::new(p).unwrap().payload().to_vec())
            .collect();
        assert_eq!(&payload[..170], &sound[..]);
        assert!(payload[170..].iter().all(|b| *b == silence));
    }
}

#[test]
fn stopping_and_a_late_driver() {
    let start = Instant::now();
    let mut player = Player::new(Codec::Pcmu, NUMBERING);
    player.play(start, audio(1600));
    assert!(player.poll_transmit(start).is_some());
    assert!(player.poll_transmit(start).is_none());
    // A driver 45 ms late gets the two packets it owes, with their own timestamps.
    let late = start + Duration::from_millis(65);
    let a = player.poll_transmit(late).unwrap();
    let b = player.poll_transmit(late).unwrap();
    assert!(player.poll_transmit(late).is_some());
    assert!(player.poll_transmit(late).is_none());
    let (a, b) = (RtpReader::new(&a).unwrap(), RtpReader::new(&b).unwrap());
    assert_eq!(b.timestamp().wrapping_sub(a.timestamp()), 160);
    player.stop();
    assert!(player.is_idle());
    assert!(player.poll_transmit(late + FRAME).is_none());
    player.play(late, Arc::from(Vec::new()));
    assert!(
        player.poll_transmit(late).is_some(),
        "an empty prompt still opens and closes a spurt"
    );
    assert!(player.is_idle());
}
