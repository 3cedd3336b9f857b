// oneclass/data.hpp - readers and writers: .npy, CSV, IDX (Fashion-MNIST), CIFAR-10/100 binaries,
// image files and folders (generic, cat-vs-dog, CelebA).
#pragma once
#include <oneclass/data/cifar.hpp>
#include <oneclass/data/csv.hpp>
#include <oneclass/data/dataset.hpp>
#include <oneclass/data/idx.hpp>
#include <oneclass/data/images.hpp>
#include <oneclass/data/npy.hpp>
