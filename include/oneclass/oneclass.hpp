// oneclass/oneclass.hpp - umbrella header for examples. Real code includes the module umbrellas
// (detectors.hpp, data.hpp, eval.hpp) or single headers.
//
// oneclass implements the two-stage framework of Sohn et al., "Learning and Evaluating
// Representations for Deep One-Class Classification" (ICLR 2021): a representation learned on
// normal data only, then a shallow one-class detector on its features. Every detector's score
// is an anomaly score: higher = more anomalous.
#pragma once
#include <oneclass/data.hpp>
#include <oneclass/detectors.hpp>
#include <oneclass/eval.hpp>
