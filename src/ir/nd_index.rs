//! The positions that GatherND reads and ScatterND writes, resolved from constant indices.
//!
//! Both ops address slices of the data through index tuples of length `m` after `b` batch
//! dimensions: with the data viewed as `(rows, slice)`, where `rows` is the product of its first
//! `b + m` dimensions and `slice` the product of the rest, every index tuple names one row.
//! Shape inference folds constant GatherNDs with these rows; the gradient rules scatter back
//! through them.

/// The rows of the data (viewed as `(rows, slice)`) that each index tuple addresses, in the
/// order of the tuples, or why the indices do not fit the data.
///
/// `indices` holds the index tuples flattened in row-major order, `indices_shape` their shape
/// (the last dimension is the tuple length `m`), `batch_dims` the number `b` of leading
/// dimensions that data and indices share. Negative indices count from the end of their axis.
pub fn nd_rows(
    data_shape: &[usize],
    indices: &[i64],
    indices_shape: &[usize],
    batch_dims: usize,
) -> Result<Vec<usize>, String> {
    let Some((&m, tuple_dims)) = indices_shape.split_last() else {
        return Err("indices must have rank 1 or more".into());
    };
    let b = batch_dims;
    if b >= indices_shape.len() || b + m > data_shape.len() {
        return Err(format!(
            "indices {indices_shape:?} with batch_dims {b} do not fit data {data_shape:?}"
        ));
    }
    if data_shape[..b] != indices_shape[..b] {
        return Err(format!(
            "the {b} batch dimensions differ: data {data_shape:?}, indices {indices_shape:?}"
        ));
    }
    let addressed = &data_shape[b..b + m];
    let per_batch_rows: usize = addressed.iter().product();
    let tuples_per_batch: usize = tuple_dims[b..].iter().product();
    if indices.len() != tuple_dims.iter().product::<usize>() * m {
        return Err(format!("{} indices do not fill shape {indices_shape:?}", indices.len()));
    }
    let tuples: usize = tuple_dims.iter().product();
    let mut rows = Vec::with_capacity(tuples);
    for j in 0..tuples {
        let batch = j / tuples_per_batch.max(1);
        let mut row = 0usize;
        for (axis, &dim) in addressed.iter().enumerate() {
            let d = dim as i64;
            let raw = indices[j * m + axis];
            let v = if raw < 0 { raw + d } else { raw };
            if !(0..d).contains(&v) {
                return Err(format!(
                    "index {raw} out of range for axis {} of size {dim}",
                    b + axis
                ));
            }
            row = row * dim + v as usize;
        }
        rows.push(batch * per_batch_rows + row);
    }
    Ok(rows)
}

/// The shape of GatherND's output: the indices' shape without its last dimension, then the
/// data's dimensions after the batch and addressed ones.
pub fn gather_nd_shape(
    data_shape: &[usize],
    indices_shape: &[usize],
    batch_dims: usize,
) -> Vec<usize> {
    let m = indices_shape.last().copied().unwrap_or(0);
    let mut shape = indices_shape[..indices_shape.len().saturating_sub(1)].to_vec();
    shape.extend(data_shape.get(batch_dims + m..).unwrap_or(&[]));
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_onnx_examples() {
        // GatherND example 2: data [[0,1],[2,3]], indices [[1],[0]] -> rows 1, 0.
        assert_eq!(nd_rows(&[2, 2], &[1, 0], &[2, 1], 0).expect("rows"), vec![1, 0]);
        // Example 1: indices [[0,0],[1,1]] on a 2x2 -> elements 0 and 3.
        assert_eq!(nd_rows(&[2, 2], &[0, 0, 1, 1], &[2, 2], 0).expect("rows"), vec![0, 3]);
        // Example 5: batch_dims 1, data (2,2,2), indices [[1],[0]] -> batch 0 row 1, batch 1 row 0.
        assert_eq!(nd_rows(&[2, 2, 2], &[1, 0], &[2, 1], 1).expect("rows"), vec![1, 2]);
        // Negative indices count from the end.
        assert_eq!(nd_rows(&[3, 4], &[-1], &[1, 1], 0).expect("rows"), vec![2]);
        assert_eq!(gather_nd_shape(&[2, 2, 2], &[2, 1], 1), vec![2, 2]);
        assert_eq!(gather_nd_shape(&[169, 3], &[2401, 1], 0), vec![2401, 3]);
    }

    #[test]
    fn indices_that_do_not_fit_are_refused() {
        assert!(nd_rows(&[2, 2], &[2], &[1, 1], 0).expect_err("refused").contains("out of range"));
        assert!(nd_rows(&[2, 2], &[0, 0, 0], &[1, 3], 0).is_err());
        assert!(nd_rows(&[3, 2], &[0, 0], &[2, 1], 1).expect_err("refused").contains("batch"));
    }
}
