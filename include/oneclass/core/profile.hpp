// oneclass/core/profile.hpp - opt-in wall-clock profile of the compute routines.
//
//     oneclass::profile::enable(true);
//     ... train ...
//     for (auto& [name, s] : oneclass::profile::snapshot()) std::printf("%s %.3f s\n", name.c_str(), s);
//
// `ONECLASS_PROFILE_SCOPE("conv.forward")` times the enclosing scope when profiling is on; when
// it is off (the default) the cost is one relaxed atomic load. Times of nested scopes are
// counted in both; scopes on worker threads add up (CPU-seconds, not wall time, above 1 thread).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace oneclass::profile {

namespace detail {
struct registry {
    std::mutex m;
    std::map<std::string, double> seconds;
    static registry& instance();
};
#if defined(ONECLASS_KERNEL_TU)
// In a level's object of the kernel library (ops/dispatch.hpp) the profiler is the program's,
// lent when the program loads the level's table (a copy of its own would never be read).
struct lent_profiler {
    std::atomic<bool>* on = nullptr;
    registry* totals = nullptr;
};
inline lent_profiler& lent() {
    static lent_profiler l;
    return l;
}
inline std::atomic<bool>& enabled_flag() { return *lent().on; }
inline registry& registry::instance() { return *lent().totals; }
#else
inline std::atomic<bool>& enabled_flag() {
    static std::atomic<bool> on{false};
    return on;
}
inline registry& registry::instance() {
    static registry r;
    return r;
}
#endif
}  // namespace detail

inline void enable(bool on) { detail::enabled_flag().store(on, std::memory_order_relaxed); }
inline bool enabled() { return detail::enabled_flag().load(std::memory_order_relaxed); }
inline void reset() {
    auto& r = detail::registry::instance();
    std::lock_guard<std::mutex> g(r.m);
    r.seconds.clear();
}
inline std::map<std::string, double> snapshot() {
    auto& r = detail::registry::instance();
    std::lock_guard<std::mutex> g(r.m);
    return r.seconds;
}

class scope {
public:
    explicit scope(const char* name) : name_(enabled() ? name : nullptr) {
        if (name_) t0_ = std::chrono::steady_clock::now();
    }
    ~scope() {
        if (!name_) return;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
        auto& r = detail::registry::instance();
        std::lock_guard<std::mutex> g(r.m);
        r.seconds[name_] += s;
    }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

private:
    const char* name_;
    std::chrono::steady_clock::time_point t0_;
};

}  // namespace oneclass::profile

#define ONECLASS_PROFILE_CONCAT2(a, b) a##b
#define ONECLASS_PROFILE_CONCAT(a, b) ONECLASS_PROFILE_CONCAT2(a, b)
#define ONECLASS_PROFILE_SCOPE(name) ::oneclass::profile::scope ONECLASS_PROFILE_CONCAT(oneclass_profile_, __LINE__)(name)
