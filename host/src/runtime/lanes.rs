//! CPU lanes: a plugin's calls may execute guest code on at most `cpu_lanes` async workers at
//! once. A call holds a lane only while its guest runs — it gives the lane back each time the
//! guest yields (every epoch tick) or waits in an async host import (a Falcon call, a sleep,
//! file I/O) — so one plugin's CPU-bound calls take turns among themselves instead of taking
//! every worker from other plugins, the transports and the I/O driver.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore, TryAcquireError};

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// `inner`, polled only while holding a lane of `lanes` (none: unrestricted).
pub struct OnLane<'a, T> {
    inner: Pin<Box<dyn Future<Output = T> + Send + 'a>>,
    lanes: Option<Arc<Semaphore>>,
    held: Option<OwnedSemaphorePermit>,
    waiting: Option<Acquire>,
}

impl<'a, T> OnLane<'a, T> {
    /// Run `inner` on `lanes`.
    pub fn new(
        lanes: Option<Arc<Semaphore>>,
        inner: impl Future<Output = T> + Send + 'a,
    ) -> OnLane<'a, T> {
        OnLane {
            inner: Box::pin(inner),
            lanes,
            held: None,
            waiting: None,
        }
    }
}

impl<T> Future for OnLane<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        if this.held.is_none()
            && let Some(lanes) = this.lanes.clone()
        {
            if this.waiting.is_none() {
                // The semaphore is fair: with calls queued for a lane, a freed lane goes to
                // the first of them and this attempt fails, so a yielding call queues behind.
                match lanes.clone().try_acquire_owned() {
                    Ok(p) => this.held = Some(p),
                    Err(TryAcquireError::NoPermits) => {
                        this.waiting = Some(Box::pin(lanes.acquire_owned()));
                    }
                    // Never closed (the runtime keeps it open); run unrestricted if it were.
                    Err(TryAcquireError::Closed) => this.lanes = None,
                }
            }
            if let Some(w) = &mut this.waiting {
                match w.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(p) => {
                        this.held = p.ok();
                        this.waiting = None;
                    }
                }
            }
        }
        match this.inner.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(v),
            Poll::Pending => {
                // The guest yielded or is waiting in a host import: give the lane back.
                this.held = None;
                Poll::Pending
            }
        }
    }
}
