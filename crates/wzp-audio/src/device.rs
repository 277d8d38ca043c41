//! Audio devices through cpal: listing, opening, hot-plug.
//!
//! The cpal callbacks only move samples between the device and a lock-free
//! single-producer/single-consumer ring (`rtrb`): no locks, no allocation, no
//! logging. Down-mixing to mono happens in the callback (it is a sum); rate
//! conversion to and from 48 kHz happens on the caller's side of the ring.
//!
//! Errors reported by cpal's error callback (device unplugged, server gone)
//! are queued; [`CaptureDevice::poll`] / [`PlaybackDevice::poll`] turn them into
//! [`DeviceEvent`]s and reopen the system default device, so a call keeps
//! going on the laptop speakers when a headset is pulled out. A device opened as
//! the system default also follows the default when the user changes it (a
//! watcher thread reports the change like a loss). Reopening runs on a thread
//! of its own: opening a device can take seconds on a busy sound server, and
//! `poll` is called from the call's media loop, which must not stall.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SizedSample};

use crate::error::{AudioError, Result};
use crate::frame::SAMPLE_RATE;
use crate::io::{AudioSink, AudioSource, Pull};
use crate::resample::StreamResampler;

/// Capture or playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Microphone.
    Input,
    /// Speakers.
    Output,
}

/// A device as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Stable id (`host:device`, cpal's `DeviceId`), to store in settings.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Whether it is the system default for its direction.
    pub is_default: bool,
    /// Input or output.
    pub direction: Direction,
}

/// Something that happened to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// The device in use went away or failed.
    Lost {
        /// Id of the lost device.
        id: String,
        /// What the backend said.
        reason: String,
    },
    /// Now using this device (after a loss, the default).
    Switched(DeviceInfo),
    /// No device could be opened; the stream is silent until one appears.
    Unavailable(String),
}

fn dev_err(e: impl std::fmt::Display) -> AudioError {
    AudioError::Device(e.to_string())
}

fn info_of(d: &cpal::Device, direction: Direction, default_id: Option<&str>) -> Option<DeviceInfo> {
    let id = d.id().ok()?.to_string();
    let name = d
        .description()
        .map_or_else(|_| id.clone(), |x| x.to_string());
    Some(DeviceInfo {
        is_default: default_id == Some(id.as_str()),
        id,
        name,
        direction,
    })
}

/// The host used to list devices and to name the default one, made once and kept.
///
/// With cpal's PulseAudio host every `cpal::default_host()` is a new connection to
/// the server: a handshake on a thread of its own, which cpal gives 2 s before it
/// quietly falls back to the ALSA host (whose ids do not match the listed
/// `pulseaudio:` ones, hence "audio device not found" for a listed device on a busy
/// machine), and a reactor thread per connection. Listing reuses this one
/// connection. A connection that died (the server restarted) is dropped when a
/// listing on it fails, and made again.
static LISTING_HOST: std::sync::Mutex<Option<Arc<cpal::Host>>> = std::sync::Mutex::new(None);

fn listing_host() -> Arc<cpal::Host> {
    // A panic while the lock was held leaves at worst a stale host; keep using it.
    let mut kept = LISTING_HOST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Made under the lock: two threads starting at once must not both connect.
    kept.get_or_insert_with(|| {
        let h = Arc::new(cpal::default_host());
        tracing::info!(host = ?h.id(), "audio host for listing made");
        h
    })
    .clone()
}

fn forget_listing_host(host: &Arc<cpal::Host>) {
    let mut kept = LISTING_HOST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if kept.as_ref().is_some_and(|k| Arc::ptr_eq(k, host)) {
        tracing::info!(host = ?host.id(), "audio host dropped after a failed listing; reconnecting");
        *kept = None;
    }
}

/// Lists input and output devices of the default host.
pub fn list_devices() -> Result<Vec<DeviceInfo>> {
    let host = listing_host();
    match list_on(&host) {
        Ok(all) => Ok(all),
        Err(e) => {
            tracing::warn!(error = %e, "listing audio devices failed; trying a new connection");
            forget_listing_host(&host);
            list_on(&listing_host())
        }
    }
}

fn list_on(host: &cpal::Host) -> Result<Vec<DeviceInfo>> {
    let mut all = Vec::new();
    let def_in = host
        .default_input_device()
        .and_then(|d| d.id().ok())
        .map(|i| i.to_string());
    let def_out = host
        .default_output_device()
        .and_then(|d| d.id().ok())
        .map(|i| i.to_string());
    for d in host.input_devices().map_err(dev_err)? {
        all.extend(info_of(&d, Direction::Input, def_in.as_deref()));
    }
    for d in host.output_devices().map_err(dev_err)? {
        all.extend(info_of(&d, Direction::Output, def_out.as_deref()));
    }
    Ok(all)
}

/// Finds a device to open a stream on: by id, on the host the id names, or the
/// default device of the listing host's kind.
///
/// Each stream gets a host (a server connection) of its own, made here with
/// `cpal::host_from_id`, never `cpal::default_host()`, so that a slow PulseAudio
/// handshake is an error that says so rather than a lookup on the ALSA host. Not
/// the listing host's connection: PulseAudio puts the playback streams of one
/// connection in one sync group (cpal's host gives them all the same sync id), and
/// refuses a second one while the first plays ("Invalid argument"; the server
/// logs a failed assertion in `pa_sink_input_new`), so a call's speaker and a
/// speaker being tried could not share it.
fn find(direction: Direction, id: Option<&str>) -> Result<cpal::Device> {
    let did: Option<cpal::DeviceId> = id.map(str::parse).transpose().map_err(dev_err)?;
    let host_id = did
        .as_ref()
        .map_or_else(|| listing_host().id(), cpal::DeviceId::host);
    let host = cpal::host_from_id(host_id).or_else(|e| {
        // One more try: the handshake's 2 s can run out on a machine busy for a moment.
        tracing::warn!(error = %e, host = ?host_id, "audio host did not come up; trying again");
        cpal::host_from_id(host_id)
    });
    let host = host.map_err(dev_err)?;
    let found = match &did {
        Some(did) => host.device_by_id(did),
        None => match direction {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        },
    };
    found.ok_or_else(|| {
        AudioError::DeviceNotFound(
            id.map_or_else(|| format!("default {direction:?} device"), str::to_owned),
        )
    })
}

/// Ring length: 500 ms at 48 kHz (devices above 48 kHz get proportionally less).
const RING: usize = 24_000;

/// Counters shared with callbacks (atomics only).
#[derive(Debug, Default)]
pub struct DeviceCounters {
    /// Samples the callback could not store (ring full) or had to invent (ring empty).
    pub xruns: AtomicU64,
    /// Callback invocations.
    pub callbacks: AtomicU64,
    /// Errors the backend reported (any kind).
    pub errors: AtomicU64,
}

struct Open<T> {
    /// Kept alive: dropping it stops the device (on another thread, see `Drop`).
    stream: Option<cpal::Stream>,
    ring: T,
    rate: u32,
    info: DeviceInfo,
}

impl<T> Drop for Open<T> {
    /// Closes the stream on a thread of its own. cpal 0.18's PulseAudio playback
    /// stream queues its delete request with `now_or_never()` when dropped; when
    /// that does not go through at once, its driver thread never ends (it always
    /// sees data to write) and the drop joins it forever. Dropped here, that would
    /// stall whoever closed the device (the call engine's thread, or the hot-plug
    /// path reopening the default device). A close that hangs parks that one
    /// thread; the caller goes on.
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("wzp-audio-close".into())
            .spawn(move || {
                drop(stream);
                tracing::trace!("audio stream closed");
            });
        if let Err(e) = spawned {
            // The stream went down with the closure spawn could not run: closed here.
            tracing::warn!(error = %e, "no thread to close the audio stream; closed inline");
        }
    }
}

/// What a capture and a playback device share: the open stream (none after a
/// loss that could not be recovered), the channel the backend reports errors on,
/// and the callback counters. One type, so hot-plug handling exists once.
struct DeviceStream<T> {
    open: Option<Open<T>>,
    errors_tx: mpsc::Sender<cpal::Error>,
    errors: mpsc::Receiver<cpal::Error>,
    counters: Arc<DeviceCounters>,
    /// Opens a device by id (`None`: the default); used again after a loss.
    build: BuildFn<T>,
    direction: Direction,
    /// A reopen of the default device under way on its own thread.
    reopening: Option<mpsc::Receiver<Result<Open<T>>>>,
    /// Watches the system default while the stream is on it.
    watch: Option<DefaultWatch>,
}

type BuildFn<T> =
    fn(Option<&str>, mpsc::Sender<cpal::Error>, Arc<DeviceCounters>) -> Result<Open<T>>;

/// How often a device opened as the system default checks whether the default moved.
const DEFAULT_CHECK: Duration = Duration::from_secs(1);

/// The id of the system default device for a direction, as the listing host names it.
fn default_id(direction: Direction) -> Option<String> {
    let host = listing_host();
    let dev = match direction {
        Direction::Input => host.default_input_device(),
        Direction::Output => host.default_output_device(),
    }?;
    dev.id().ok().map(|i| i.to_string())
}

/// Watches the system default for one direction on a thread of its own, and reports
/// a change as a `DeviceChanged` error on the stream's error channel, so the loss path
/// reopens the (new) default. Why a thread: asking the sound server is a round trip
/// that can block, and the stream's owner polls from its media loop.
struct DefaultWatch {
    stop: Arc<AtomicBool>,
}

impl DefaultWatch {
    fn start(direction: Direction, errors: mpsc::Sender<cpal::Error>) -> Option<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("wzp-audio-default".into())
            .spawn(move || {
                let mut seen = default_id(direction);
                loop {
                    std::thread::sleep(DEFAULT_CHECK);
                    if stopped.load(Ordering::Relaxed) {
                        return;
                    }
                    let now = default_id(direction);
                    if now.is_none() || now == seen {
                        continue;
                    }
                    if seen.is_none() {
                        // The first answer after a failed lookup: nothing to compare with.
                        seen = now;
                        continue;
                    }
                    tracing::info!(?direction, from = ?seen, to = ?now, "system default device changed");
                    seen = now;
                    let changed = cpal::Error::with_message(
                        cpal::ErrorKind::DeviceChanged,
                        "the system default device changed",
                    );
                    if errors.send(changed).is_err() {
                        return;
                    }
                }
            });
        match spawned {
            Ok(_) => Some(Self { stop }),
            Err(e) => {
                tracing::warn!(error = %e, "no thread to watch the default device; changes of it are not followed");
                None
            }
        }
    }
}

impl Drop for DefaultWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl<T: Send + 'static> DeviceStream<T> {
    fn open(direction: Direction, id: Option<&str>, build: BuildFn<T>) -> Result<Self> {
        let (errors_tx, errors) = mpsc::channel();
        let counters = Arc::new(DeviceCounters::default());
        let open = build(id, errors_tx.clone(), counters.clone())?;
        let watch = if id.is_none() {
            DefaultWatch::start(direction, errors_tx.clone())
        } else {
            None
        };
        Ok(Self {
            open: Some(open),
            errors_tx,
            errors,
            counters,
            build,
            direction,
            reopening: None,
            watch,
        })
    }

    fn info(&self) -> Option<&DeviceInfo> {
        self.open.as_ref().map(|o| &o.info)
    }

    fn inject_error(&self, e: cpal::Error) {
        let _ = self.errors_tx.send(e);
    }

    /// The reaction to backend errors: a loss (or a change of the system default,
    /// for a stream on it) closes the stream and reopens the default device on a
    /// thread of its own, reported as `Lost` at once and `Switched` or `Unavailable`
    /// by a later poll; `adapt` fits the caller's resampler to the new device's rate.
    /// Other errors are logged. Never blocks.
    fn poll(&mut self, mut adapt: impl FnMut(&Open<T>) -> Result<()>) -> Vec<DeviceEvent> {
        let mut events = Vec::new();
        while let Ok(e) = self.errors.try_recv() {
            if !is_loss(&e) {
                // Some backends repeat one error many times a second (ALSA's PulseAudio
                // plugin while its stream comes up): the first few, then every doubling.
                let n = self.counters.errors.load(Ordering::Relaxed);
                if n <= 4 || n.is_power_of_two() {
                    tracing::warn!(error = %e, direction = ?self.direction, errors_so_far = n, "stream error");
                }
                continue;
            }
            if self.reopening.is_some() {
                // The reopen under way opens whatever the default is by then.
                continue;
            }
            let id = self
                .open
                .as_ref()
                .map(|o| o.info.id.clone())
                .unwrap_or_default();
            tracing::info!(direction = ?self.direction, %id, reason = %e, "audio device lost; reopening the default");
            events.push(DeviceEvent::Lost {
                id,
                reason: e.to_string(),
            });
            self.open = None;
            self.reopening = Some(self.reopen_default());
        }
        let done = match self.reopening.as_ref().map(mpsc::Receiver::try_recv) {
            None | Some(Err(mpsc::TryRecvError::Empty)) => None,
            Some(Ok(r)) => Some(r),
            Some(Err(mpsc::TryRecvError::Disconnected)) => Some(Err(AudioError::Device(
                "the thread reopening the device ended without a result".into(),
            ))),
        };
        if let Some(result) = done {
            self.reopening = None;
            match result {
                Ok(o) => {
                    if let Err(e) = adapt(&o) {
                        tracing::warn!(error = %e, direction = ?self.direction, "resampler for new device");
                    }
                    tracing::info!(direction = ?self.direction, id = %o.info.id, "now using the default device");
                    events.push(DeviceEvent::Switched(o.info.clone()));
                    self.open = Some(o);
                }
                Err(e) => events.push(DeviceEvent::Unavailable(e.to_string())),
            }
            // On the default from now on, or waiting for one: a new default (a device
            // plugged in and chosen by the system) reopens.
            if self.watch.is_none() {
                self.watch = DefaultWatch::start(self.direction, self.errors_tx.clone());
            }
        }
        events
    }

    /// Opens the default device on a thread of its own; the receiver gets the result.
    fn reopen_default(&self) -> mpsc::Receiver<Result<Open<T>>> {
        let (tx, rx) = mpsc::channel();
        let (build, errors, counters) = (self.build, self.errors_tx.clone(), self.counters.clone());
        let spawned = std::thread::Builder::new()
            .name("wzp-audio-reopen".into())
            .spawn({
                let tx = tx.clone();
                move || {
                    let _ = tx.send(build(None, errors, counters));
                }
            });
        if let Err(e) = spawned {
            let _ = tx.send(Err(AudioError::Device(format!(
                "no thread to reopen the device: {e}"
            ))));
        }
        rx
    }
}

impl<T: Send + 'static> std::fmt::Debug for DeviceStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceStream")
            .field("direction", &self.direction)
            .field("device", &self.info())
            .finish()
    }
}

fn build_capture(
    id: Option<&str>,
    errors: mpsc::Sender<cpal::Error>,
    counters: Arc<DeviceCounters>,
) -> Result<Open<rtrb::Consumer<f32>>> {
    let dev = find(Direction::Input, id)?;
    let info = info_of(&dev, Direction::Input, None)
        .ok_or_else(|| AudioError::Device("device has no id".into()))?;
    let sup = dev.default_input_config().map_err(dev_err)?;
    let channels = usize::from(sup.channels()).max(1);
    let rate = sup.sample_rate();
    let (prod, cons) = rtrb::RingBuffer::<f32>::new(RING);
    let err_cb = error_callback(errors, counters.clone());
    let cfg = low_latency(&sup);
    let stream = match sup.sample_format() {
        cpal::SampleFormat::F32 => input_stream::<f32>(&dev, cfg, channels, prod, counters, err_cb),
        cpal::SampleFormat::I16 => input_stream::<i16>(&dev, cfg, channels, prod, counters, err_cb),
        cpal::SampleFormat::I32 => input_stream::<i32>(&dev, cfg, channels, prod, counters, err_cb),
        cpal::SampleFormat::U16 => input_stream::<u16>(&dev, cfg, channels, prod, counters, err_cb),
        other => {
            return Err(AudioError::Device(format!(
                "unsupported sample format {other}"
            )));
        }
    }?;
    stream.play().map_err(dev_err)?;
    tracing::info!(id = %info.id, name = %info.name, rate, channels, "microphone opened");
    Ok(Open {
        stream: Some(stream),
        ring: cons,
        rate,
        info,
    })
}

fn input_stream<T: SizedSample>(
    dev: &cpal::Device,
    cfg: cpal::StreamConfig,
    channels: usize,
    mut prod: rtrb::Producer<f32>,
    counters: Arc<DeviceCounters>,
    err_cb: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream>
where
    f32: FromSample<T>,
{
    dev.build_input_stream::<T, _, _>(
        cfg,
        move |data: &[T], _| {
            // Real-time: sum channels, push; never block or allocate.
            counters.callbacks.fetch_add(1, Ordering::Relaxed);
            let scale = 1.0 / channels as f32;
            for frame in data.chunks(channels) {
                let s: f32 = frame.iter().map(|x| f32::from_sample(*x)).sum::<f32>() * scale;
                if prod.push(s).is_err() {
                    counters.xruns.fetch_add(1, Ordering::Relaxed);
                }
            }
        },
        err_cb,
        None,
    )
    .map_err(dev_err)
}

/// ALSA's PulseAudio plugin (`alsa:pulse`), the route for the default speaker when
/// the sound server is PulseAudio (or PipeWire's PulseAudio service).
const ALSA_PULSE_PLUGIN: &str = "alsa:pulse";

/// Opens the speaker: by id, or the system default.
///
/// The default goes through ALSA's PulseAudio plugin when the server speaks
/// PulseAudio and the plugin is installed, and through cpal's own PulseAudio
/// client otherwise. Why: cpal 0.18 asks the server for a fixed-size playback
/// buffer of two callback periods with `ADJUST_LATENCY`, and PulseAudio gives the
/// sink `(tlength - 2 * minreq) / 2` of it, which is zero; the sink then runs at
/// its minimum latency (0.5 ms on the null sink, 2,000 wake-ups a second), and a
/// monitor of it delivers in 23-sample pieces. Measured with `examples/device_cpu`,
/// that cost 48 % of a core in the app and 50 % in the server; through the plugin,
/// with the same 10 ms periods and about the same 20 ms of buffering, 11-12 % and
/// 8-10 %. Capture stays on cpal's client: its record buffer is sized by the
/// fragment alone and is cheap. A sink chosen by id also stays there (cpal opens
/// only listed ALSA devices, so the plugin cannot be aimed at one sink).
fn build_playback(
    id: Option<&str>,
    errors: mpsc::Sender<cpal::Error>,
    counters: Arc<DeviceCounters>,
) -> Result<Open<rtrb::Producer<f32>>> {
    if id.is_none() && listing_host().id() == cpal::HostId::PulseAudio {
        match find(Direction::Output, Some(ALSA_PULSE_PLUGIN)) {
            Ok(dev) => match open_playback(&dev, errors.clone(), counters.clone()) {
                Ok(mut open) => {
                    // Named after where the sound goes: "PulseAudio Sound Server" says nothing.
                    if let Some(name) = listing_host()
                        .default_output_device()
                        .and_then(|d| d.description().ok())
                    {
                        open.info.name = format!("{name} (system default)");
                    }
                    return Ok(open);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "default speaker through ALSA's PulseAudio plugin failed; using cpal's PulseAudio client")
                }
            },
            Err(e) => {
                tracing::debug!(error = %e, "no ALSA PulseAudio plugin; default speaker through cpal's PulseAudio client")
            }
        }
    }
    open_playback(&find(Direction::Output, id)?, errors, counters)
}

fn open_playback(
    dev: &cpal::Device,
    errors: mpsc::Sender<cpal::Error>,
    counters: Arc<DeviceCounters>,
) -> Result<Open<rtrb::Producer<f32>>> {
    let info = info_of(dev, Direction::Output, None)
        .ok_or_else(|| AudioError::Device("device has no id".into()))?;
    let sup = dev.default_output_config().map_err(dev_err)?;
    let channels = usize::from(sup.channels()).max(1);
    let rate = sup.sample_rate();
    let (prod, cons) = rtrb::RingBuffer::<f32>::new(RING);
    let err_cb = error_callback(errors, counters.clone());
    let cfg = low_latency(&sup);
    let stream = match sup.sample_format() {
        cpal::SampleFormat::F32 => output_stream::<f32>(dev, cfg, channels, cons, counters, err_cb),
        cpal::SampleFormat::I16 => output_stream::<i16>(dev, cfg, channels, cons, counters, err_cb),
        cpal::SampleFormat::I32 => output_stream::<i32>(dev, cfg, channels, cons, counters, err_cb),
        cpal::SampleFormat::U16 => output_stream::<u16>(dev, cfg, channels, cons, counters, err_cb),
        other => {
            return Err(AudioError::Device(format!(
                "unsupported sample format {other}"
            )));
        }
    }?;
    stream.play().map_err(dev_err)?;
    tracing::info!(id = %info.id, name = %info.name, rate, channels, "speaker opened");
    Ok(Open {
        stream: Some(stream),
        ring: prod,
        rate,
        info,
    })
}

fn output_stream<T: SizedSample + FromSample<f32>>(
    dev: &cpal::Device,
    cfg: cpal::StreamConfig,
    channels: usize,
    mut cons: rtrb::Consumer<f32>,
    counters: Arc<DeviceCounters>,
    err_cb: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream> {
    dev.build_output_stream::<T, _, _>(
        cfg,
        move |data: &mut [T], _| {
            counters.callbacks.fetch_add(1, Ordering::Relaxed);
            for frame in data.chunks_mut(channels) {
                let s = cons.pop().unwrap_or_else(|_| {
                    counters.xruns.fetch_add(1, Ordering::Relaxed);
                    0.0
                });
                let v = T::from_sample(s);
                frame.fill(v);
            }
        },
        err_cb,
        None,
    )
    .map_err(dev_err)
}

/// The device's default format with 10 ms callbacks requested: some hosts
/// default to buffers of a second or more, which would make the ring run dry.
fn low_latency(sup: &cpal::SupportedStreamConfig) -> cpal::StreamConfig {
    let mut cfg = sup.config();
    let want = (sup.sample_rate() / 100).max(64);
    if let cpal::SupportedBufferSize::Range { min, max } = sup.buffer_size() {
        cfg.buffer_size = cpal::BufferSize::Fixed(want.clamp(*min, *max));
    } else {
        cfg.buffer_size = cpal::BufferSize::Fixed(want);
    }
    cfg
}

/// The stream's error callback: counts, paces a backend stuck in an error loop, and
/// queues the error for [`DeviceStream::poll`].
fn error_callback(
    errors: mpsc::Sender<cpal::Error>,
    counters: Arc<DeviceCounters>,
) -> impl FnMut(cpal::Error) + Send + 'static {
    let mut pacer = ErrorPacer::default();
    move |e: cpal::Error| {
        counters.errors.fetch_add(1, Ordering::Relaxed);
        match pacer.pause_for(e.kind(), std::time::Instant::now()) {
            // Not queued either: `poll` would only log it, and a loop fills the channel.
            Some(pause) => std::thread::sleep(pause),
            None => {
                let _ = errors.send(e);
            }
        }
    }
}

/// Slows a backend that reports one failure in a tight loop.
///
/// cpal's ALSA worker retries at once when ALSA's PulseAudio plugin answers
/// `snd_pcm_avail_delay` with EIO, which it does for up to a second while a stream
/// comes up on a loaded machine (1,244 and 1,539 errors in one second were seen):
/// that second spins a core. The error callback runs on that worker thread, outside
/// the audio data path, so pausing there paces the loop. Underruns (the worker
/// recovers from those itself, and a pause would stretch the gap) and device
/// losses pass at once.
#[derive(Debug, Default)]
struct ErrorPacer {
    window_start: Option<std::time::Instant>,
    in_window: u32,
}

impl ErrorPacer {
    /// Errors within [`Self::WINDOW`] that pass without a pause.
    const FREE: u32 = 20;
    const WINDOW: Duration = Duration::from_millis(100);
    const PAUSE: Duration = Duration::from_millis(2);

    /// How long the reporting thread should pause for this error, if at all.
    fn pause_for(&mut self, kind: cpal::ErrorKind, now: std::time::Instant) -> Option<Duration> {
        use cpal::ErrorKind as K;
        if matches!(kind, K::Xrun | K::DeviceNotAvailable | K::DeviceChanged) {
            return None;
        }
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) < Self::WINDOW => {
                self.in_window += 1;
            }
            _ => {
                self.window_start = Some(now);
                self.in_window = 1;
            }
        }
        (self.in_window > Self::FREE).then_some(Self::PAUSE)
    }
}

fn is_loss(e: &cpal::Error) -> bool {
    matches!(
        e.kind(),
        cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::DeviceChanged
    )
}

/// A microphone as an [`AudioSource`] (48 kHz mono frames).
#[derive(Debug)]
pub struct CaptureDevice {
    stream: DeviceStream<rtrb::Consumer<f32>>,
    resampler: StreamResampler,
    chunk: Vec<f32>,
}

impl CaptureDevice {
    /// Opens the device with this id, or the default with `None`.
    pub fn open(id: Option<&str>) -> Result<Self> {
        let stream = DeviceStream::open(Direction::Input, id, build_capture)?;
        let rate = stream.open.as_ref().map_or(SAMPLE_RATE, |o| o.rate);
        Ok(Self {
            resampler: StreamResampler::new(rate, SAMPLE_RATE, (rate / 100) as usize)?,
            stream,
            chunk: vec![0.0; 4800],
        })
    }

    /// The device in use.
    #[must_use]
    pub fn device(&self) -> Option<&DeviceInfo> {
        self.stream.info()
    }

    /// Callback counters.
    #[must_use]
    pub fn counters(&self) -> &DeviceCounters {
        &self.stream.counters
    }

    /// Feeds an error as if the backend had reported it (tests of hot-plug).
    pub fn inject_error(&self, e: cpal::Error) {
        self.stream.inject_error(e);
    }

    /// Handles backend errors: on device loss, or when the system default this
    /// device follows changes, reopens the default device (without blocking: the
    /// `Switched` event comes from a later call; until then `pull` gives silence).
    pub fn poll(&mut self) -> Vec<DeviceEvent> {
        let resampler = &mut self.resampler;
        self.stream.poll(|o| {
            StreamResampler::new(o.rate, SAMPLE_RATE, (o.rate / 100) as usize)
                .map(|r| *resampler = r)
        })
    }
}

impl AudioSource for CaptureDevice {
    fn device_events(&mut self) -> Vec<DeviceEvent> {
        self.poll()
    }

    fn pull(&mut self, frame: &mut [f32]) -> Result<Pull> {
        if let Some(o) = self.stream.open.as_mut() {
            let n = o.ring.slots().min(self.chunk.len());
            if let Ok(chunk) = o.ring.read_chunk(n) {
                let (a, b) = chunk.as_slices();
                self.chunk[..a.len()].copy_from_slice(a);
                self.chunk[a.len()..a.len() + b.len()].copy_from_slice(b);
                chunk.commit_all();
                self.resampler.push(&self.chunk[..n])?;
            }
        }
        let got = self.resampler.pull(frame);
        frame[got..].fill(0.0);
        Ok(if got == frame.len() {
            Pull::Audio
        } else {
            Pull::Partial(got)
        })
    }
}

/// Speakers as an [`AudioSink`] (48 kHz mono frames in).
#[derive(Debug)]
pub struct PlaybackDevice {
    stream: DeviceStream<rtrb::Producer<f32>>,
    resampler: StreamResampler,
    chunk: Vec<f32>,
}

impl PlaybackDevice {
    /// Opens the device with this id, or the default with `None`.
    pub fn open(id: Option<&str>) -> Result<Self> {
        let stream = DeviceStream::open(Direction::Output, id, build_playback)?;
        let rate = stream.open.as_ref().map_or(SAMPLE_RATE, |o| o.rate);
        Ok(Self {
            resampler: StreamResampler::new(SAMPLE_RATE, rate, 480)?,
            stream,
            chunk: vec![0.0; 9600],
        })
    }

    /// The device in use.
    #[must_use]
    pub fn device(&self) -> Option<&DeviceInfo> {
        self.stream.info()
    }

    /// Callback counters.
    #[must_use]
    pub fn counters(&self) -> &DeviceCounters {
        &self.stream.counters
    }

    /// Samples queued for the device (playout latency on our side of the ring).
    #[must_use]
    pub fn queued(&self) -> usize {
        self.stream
            .open
            .as_ref()
            .map_or(0, |o| RING - o.ring.slots())
    }

    /// Feeds an error as if the backend had reported it (tests of hot-plug).
    pub fn inject_error(&self, e: cpal::Error) {
        self.stream.inject_error(e);
    }

    /// Handles backend errors: on device loss, or when the system default this
    /// device follows changes, reopens the default device (without blocking: the
    /// `Switched` event comes from a later call; until then `push` drops audio).
    pub fn poll(&mut self) -> Vec<DeviceEvent> {
        let resampler = &mut self.resampler;
        self.stream
            .poll(|o| StreamResampler::new(SAMPLE_RATE, o.rate, 480).map(|r| *resampler = r))
    }
}

impl AudioSink for PlaybackDevice {
    fn device_events(&mut self) -> Vec<DeviceEvent> {
        self.poll()
    }

    fn push(&mut self, frame: &[f32]) -> Result<()> {
        self.resampler.push(frame)?;
        let n = self.resampler.pull(&mut self.chunk);
        if let Some(o) = self.stream.open.as_mut() {
            // Ring full means the device is behind; drop the excess rather than block.
            let room = o.ring.slots().min(n);
            if let Ok(mut w) = o.ring.write_chunk(room) {
                let (a, b) = w.as_mut_slices();
                let split = a.len();
                a.copy_from_slice(&self.chunk[..split]);
                b.copy_from_slice(&self.chunk[split..room]);
                w.commit_all();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn an_error_loop_is_paced_but_underruns_and_losses_are_not() {
        let mut pacer = ErrorPacer::default();
        let t0 = Instant::now();
        let at = |us: u64| t0 + Duration::from_micros(us);
        let other = cpal::ErrorKind::BackendError;
        for i in 0..u64::from(ErrorPacer::FREE) {
            assert_eq!(pacer.pause_for(other, at(i)), None, "error {i}");
        }
        assert_eq!(pacer.pause_for(other, at(1_000)), Some(ErrorPacer::PAUSE));
        assert_eq!(pacer.pause_for(cpal::ErrorKind::Xrun, at(1_000)), None);
        assert_eq!(
            pacer.pause_for(cpal::ErrorKind::DeviceNotAvailable, at(1_000)),
            None
        );
        // A new window starts free again.
        assert_eq!(pacer.pause_for(other, at(150_000)), None);
    }
}
