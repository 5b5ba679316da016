//! The compression pipeline as one library API: network -> compress ->
//! (ADC calibration) -> images -> report.

pub mod adc_calib;
