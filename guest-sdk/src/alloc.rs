//! The policy's heap: a bump allocator over a static arena, falling back to the system
//! allocator when the arena is full.
//!
//! tailor runs every decision in a fresh instance and throws the instance away afterwards, so
//! a decision never needs memory back: bumping a pointer is all allocation has to do. The arena
//! is zero-initialised static data, part of the component's initial memory, so a typical
//! decision never executes `memory.grow` (whose cost in the host — moving the accessible heap
//! limit with `mprotect` and back on reset — dominated instantiation in measurements; see
//! docs/benchmarks.md). A decision that needs more than the arena continues on the system
//! allocator, within the host's memory cap.
#![expect(
    unsafe_code,
    reason = "a global allocator is an unsafe interface by definition"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

/// Arena size: ample for a decision's inputs, working data and output.
const ARENA_BYTES: usize = 128 << 10;

#[repr(C, align(16))]
struct Arena {
    bytes: UnsafeCell<[u8; ARENA_BYTES]>,
    /// Offset of the first free byte.
    next: UnsafeCell<usize>,
}

// A wasm policy instance runs on one thread; the allocator is never shared across threads.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena {
    bytes: UnsafeCell::new([0; ARENA_BYTES]),
    next: UnsafeCell::new(0),
};

/// The allocator `export_policy!` installs for wasm builds (opt out with
/// `export_policy!(MyPolicy, global_allocator = false)`).
#[derive(Debug)]
pub struct DecisionAllocator;

impl DecisionAllocator {
    fn base() -> usize {
        ARENA.bytes.get() as usize
    }

    fn owns(ptr: *mut u8) -> bool {
        let addr = ptr as usize;
        addr >= Self::base() && addr < Self::base() + ARENA_BYTES
    }
}

unsafe impl GlobalAlloc for DecisionAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded (see `Sync` above); `next` is only touched here and in realloc.
        let next = unsafe { &mut *ARENA.next.get() };
        let start = (Self::base() + *next).next_multiple_of(layout.align());
        let end = start + layout.size();
        if end <= Self::base() + ARENA_BYTES {
            *next = end - Self::base();
            return start as *mut u8;
        }
        // SAFETY: forwarding the caller's layout contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // Arena memory is handed out once per instance and starts zeroed (static zero data);
        // only the system allocator's memory needs clearing.
        let ptr = unsafe { self.alloc(layout) };
        if !ptr.is_null() && !Self::owns(ptr) {
            // SAFETY: `ptr` is a fresh allocation of `layout.size()` bytes.
            unsafe { std::ptr::write_bytes(ptr, 0, layout.size()) };
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::owns(ptr) {
            // The most recent allocation can be given back; anything else waits for the
            // instance to be discarded.
            // SAFETY: single-threaded.
            let next = unsafe { &mut *ARENA.next.get() };
            if ptr as usize + layout.size() == Self::base() + *next {
                *next = ptr as usize - Self::base();
            }
        } else {
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if Self::owns(ptr) {
            // SAFETY: single-threaded.
            let next = unsafe { &mut *ARENA.next.get() };
            let is_last = ptr as usize + layout.size() == Self::base() + *next;
            if is_last && ptr as usize + new_size <= Self::base() + ARENA_BYTES {
                *next = ptr as usize + new_size - Self::base();
                return ptr;
            }
            if new_size <= layout.size() {
                return ptr;
            }
        }
        // SAFETY: the layout is valid for `new_size` per GlobalAlloc's contract.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both regions are valid for the smaller size and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}
