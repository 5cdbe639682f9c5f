// Built into cxesdb-node only under ThreadSanitizer (`scripts/test --sanitize
// thread`, docs/testing.md): tells TSan the happens-before edges that CAF
// 0.17.6 guarantees but that TSan cannot see.
//
// Debian's libcaf_core is not built with -fsanitize=thread. Its mailboxes,
// work-stealing queues and reference counts synchronise with atomics TSan
// does not observe, so without this file every actor that runs on two
// scheduler threads in turn, every message read by its receiver and every
// object freed by the last of its owners is reported as a data race. Those
// reports are false: CAF orders them. TSan's own answer for synchronisation
// in code it does not instrument is to annotate it (`__tsan_acquire`,
// `__tsan_release`); this file does so at the edges of CAF's exported
// functions, interposing them (the executable's definition wins over the
// library's; the library's is reached through dlsym(RTLD_NEXT)):
//
// - sending: `scheduled_actor::enqueue`, `blocking_actor::enqueue` and
//   `scheduled_actor::launch` release on the receiving actor;
// - running: `scheduled_actor::resume` (and the thunk the scheduler calls it
//   through) acquires on the actor before and releases after, so one run of
//   an actor happens before its next run on any thread;
//   `scheduled_actor::reactivate`, which handles each message, acquires on
//   the actor before and releases after, so every message sent to it happens
//   before it is handled, and each handler before the next;
//   `blocking_actor::dequeue` and the blocking mailbox's `fetch_more` (a
//   scoped_actor's receive) acquire after they return;
// - ending: `scheduled_actor::cleanup` acquires on the actor before it
//   destroys the messages left in the mailbox;
// - freeing: `ref_counted::deref` and `intrusive_ptr_release` (strong and
//   weak) of an actor's control block release and acquire on the object, so
//   every owner's use happens before the last owner frees it;
// - the middleman's brokers override enqueue and resume: the same for them.
//
// It models no more than CAF promises: a race between two actors touching
// the same memory outside messages, or with the IO pool's or client-io's
// threads, is still reported.

#if defined(__SANITIZE_THREAD__)

#include <dlfcn.h>

#include <caf/blocking_actor.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>

extern "C" {
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
}

namespace {

// The library's definition of an interposed symbol; aborts if it is
// missing, since the node would then run without CAF's function.
template <class F>
F next(const char* symbol) {
  void* f = dlsym(RTLD_NEXT, symbol);
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_caf: %s not found in libcaf\n", symbol);
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

// The scheduler calls resume through the `resumable` base, 160 bytes into a
// scheduled_actor (the offset is in the thunk's mangled name).
constexpr std::ptrdiff_t resumable_offset = 160;

using resume_fn = int (*)(void*, void*, std::size_t);

// One run of the actor at `self`: CAF's resume `f`, called on `callee` (the
// actor or its resumable base), between an acquire and a release on it.
int annotated_resume(resume_fn f, void* self, void* callee, void* eu,
                     std::size_t n) {
  __tsan_acquire(self);
  int r = f(callee, eu, n);
  __tsan_release(self);
  return r;
}

} // namespace

// The mangled names are those libcaf_core.so.0.17.6 and libcaf_io export
// (nm -D), each written once as SYM for the definition's name and the
// lookup of the library's. Each C++ signature is passed as the plain
// function it is in the Itanium ABI: `this` first. A unique_ptr with a
// stateless deleter is passed as a pointer to the caller's object (it is
// not trivially copyable).
extern "C" {

// caf::scheduled_actor::enqueue(mailbox_element_ptr, execution_unit*)
#define SYM "_ZN3caf15scheduled_actor7enqueueESt10unique_ptrINS_15mailbox_e" \
  "lementENS_6detail8disposerEEPNS_14execution_unitE"
void scheduled_actor_enqueue(void* self, void* ptr, void* eu) __asm__(SYM);
void scheduled_actor_enqueue(void* self, void* ptr, void* eu) {
  static auto f = next<void (*)(void*, void*, void*)>(SYM);
  __tsan_release(self);
  f(self, ptr, eu);
}
#undef SYM

// caf::blocking_actor::enqueue(mailbox_element_ptr, execution_unit*)
#define SYM "_ZN3caf14blocking_actor7enqueueESt10unique_ptrINS_15mailbox_el" \
  "ementENS_6detail8disposerEEPNS_14execution_unitE"
void blocking_actor_enqueue(void* self, void* ptr, void* eu) __asm__(SYM);
void blocking_actor_enqueue(void* self, void* ptr, void* eu) {
  static auto f = next<void (*)(void*, void*, void*)>(SYM);
  __tsan_release(self);
  __tsan_release(&static_cast<caf::blocking_actor*>(self)->mailbox());
  f(self, ptr, eu);
}
#undef SYM

// caf::intrusive::fifo_inbox<blocking_actor::mailbox_policy>::fetch_more():
// a blocking receive (a scoped_actor's) moves what arrived into its queue
// here before it handles it.
#define SYM "_ZN3caf9intrusive10fifo_inboxINS_14blocking_actor14mailbox_pol" \
  "icyEE10fetch_moreEv"
bool blocking_fetch_more(void* inbox) __asm__(SYM);
bool blocking_fetch_more(void* inbox) {
  static auto f = next<bool (*)(void*)>(SYM);
  bool r = f(inbox);
  __tsan_acquire(inbox);
  return r;
}
#undef SYM

// caf::blocking_actor::dequeue() -> mailbox_element_ptr (returned through
// a hidden pointer to the caller's unique_ptr, which is the first argument).
#define SYM "_ZN3caf14blocking_actor7dequeueEv"
void* blocking_actor_dequeue(void* result, void* self) __asm__(SYM);
void* blocking_actor_dequeue(void* result, void* self) {
  static auto f = next<void* (*)(void*, void*)>(SYM);
  void* r = f(result, self);
  __tsan_acquire(self);
  return r;
}
#undef SYM

// caf::scheduled_actor::launch(execution_unit*, bool lazy, bool hide)
#define SYM "_ZN3caf15scheduled_actor6launchEPNS_14execution_unitEbb"
void scheduled_actor_launch(void* self, void* eu, bool lazy, bool hide)
  __asm__(SYM);
void scheduled_actor_launch(void* self, void* eu, bool lazy, bool hide) {
  static auto f = next<void (*)(void*, void*, bool, bool)>(SYM);
  __tsan_release(self);
  f(self, eu, lazy, hide);
}
#undef SYM

// caf::scheduled_actor::resume(execution_unit*, size_t) -> resume_result
#define SYM "_ZN3caf15scheduled_actor6resumeEPNS_14execution_unitEm"
int scheduled_actor_resume(void* self, void* eu, std::size_t n) __asm__(SYM);
int scheduled_actor_resume(void* self, void* eu, std::size_t n) {
  static auto f = next<resume_fn>(SYM);
  return annotated_resume(f, self, self, eu, n);
}
#undef SYM

// The non-virtual thunk of the same, which `resumable::resume` calls.
#define SYM "_ZThn160_N3caf15scheduled_actor6resumeEPNS_14execution_unitEm"
int scheduled_actor_resume_thunk(void* base, void* eu, std::size_t n)
  __asm__(SYM);
int scheduled_actor_resume_thunk(void* base, void* eu, std::size_t n) {
  static auto f = next<resume_fn>(SYM);
  return annotated_resume(f, static_cast<char*>(base) - resumable_offset,
                          base, eu, n);
}
#undef SYM

// caf::scheduled_actor::reactivate(mailbox_element&): handles one message.
// A run takes messages that arrive while it goes on, so the acquire at the
// start of resume is not enough for them; and the actor may be scheduled on
// another thread as soon as its run lets go of the mailbox, before resume
// returns, so the release at its end is late: each message released here.
#define SYM "_ZN3caf15scheduled_actor10reactivateERNS_15mailbox_elementE"
int scheduled_actor_reactivate(void* self, void* x) __asm__(SYM);
int scheduled_actor_reactivate(void* self, void* x) {
  static auto f = next<int (*)(void*, void*)>(SYM);
  __tsan_acquire(self);
  int r = f(self, x);
  __tsan_release(self);
  return r;
}
#undef SYM

// caf::scheduled_actor::cleanup(error&&, execution_unit*): the actor ends
// and destroys the messages still in its mailbox, sent with the releases
// above.
#define SYM "_ZN3caf15scheduled_actor7cleanupEONS_5errorEPNS_14execution_unitE"
bool scheduled_actor_cleanup(void* self, void* reason, void* eu) __asm__(SYM);
bool scheduled_actor_cleanup(void* self, void* reason, void* eu) {
  static auto f = next<bool (*)(void*, void*, void*)>(SYM);
  __tsan_acquire(self);
  return f(self, reason, eu);
}
#undef SYM

// The middleman's brokers (caf::io::abstract_broker, libcaf_io) override
// enqueue and resume; the same edges for them.
#define SYM "_ZN3caf2io15abstract_broker7enqueueESt10unique_ptrINS_15mailbo" \
  "x_elementENS_6detail8disposerEEPNS_14execution_unitE"
void broker_enqueue(void* self, void* ptr, void* eu) __asm__(SYM);
void broker_enqueue(void* self, void* ptr, void* eu) {
  static auto f = next<void (*)(void*, void*, void*)>(SYM);
  __tsan_release(self);
  f(self, ptr, eu);
}
#undef SYM

#define SYM "_ZThn160_N3caf2io15abstract_broker6resumeEPNS_14execution_unitEm"
int broker_resume_thunk(void* base, void* eu, std::size_t n) __asm__(SYM);
int broker_resume_thunk(void* base, void* eu, std::size_t n) {
  static auto f = next<resume_fn>(SYM);
  return annotated_resume(f, static_cast<char*>(base) - resumable_offset,
                          base, eu, n);
}
#undef SYM

// caf::ref_counted::deref() const
#define SYM "_ZNK3caf11ref_counted5derefEv"
void ref_counted_deref(const void* self) __asm__(SYM);
void ref_counted_deref(const void* self) {
  static auto f = next<void (*)(const void*)>(SYM);
  auto* p = const_cast<void*>(self);
  __tsan_release(p);
  __tsan_acquire(p);
  f(self);
}
#undef SYM

// caf::intrusive_ptr_release(actor_control_block*)
#define SYM "_ZN3caf21intrusive_ptr_releaseEPNS_19actor_control_blockE"
void actor_control_block_release(void* block) __asm__(SYM);
void actor_control_block_release(void* block) {
  static auto f = next<void (*)(void*)>(SYM);
  __tsan_release(block);
  __tsan_acquire(block);
  f(block);
}
#undef SYM

// caf::intrusive_ptr_release_weak(actor_control_block*): the last weak
// reference frees the block, the actor's memory included.
#define SYM "_ZN3caf26intrusive_ptr_release_weakEPNS_19actor_control_blockE"
void actor_control_block_release_weak(void* block) __asm__(SYM);
void actor_control_block_release_weak(void* block) {
  static auto f = next<void (*)(void*)>(SYM);
  __tsan_release(block);
  __tsan_acquire(block);
  f(block);
}
#undef SYM

} // extern "C"

#endif // __SANITIZE_THREAD__
