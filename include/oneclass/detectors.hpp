// oneclass/detectors.hpp - the detector stage: KDE, OC-SVM, GDE, GMM, kNN, thresholds, model files.
// Every detector's score is an anomaly score: higher = more anomalous.
#pragma once

#include <oneclass/detectors/detector.hpp>
#include <oneclass/detectors/gaussian.hpp>
#include <oneclass/detectors/gmm.hpp>
#include <oneclass/detectors/kde.hpp>
#include <oneclass/detectors/knn.hpp>
#include <oneclass/detectors/ocsvm.hpp>
#include <oneclass/detectors/registry.hpp>
#include <oneclass/detectors/serialize.hpp>
#include <oneclass/detectors/threshold.hpp>
