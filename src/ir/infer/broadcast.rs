//! Numpy-style multidirectional broadcasting.

/// The broadcast shape of several shapes, or `None` if they are incompatible.
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        let offset = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[offset + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return None;
            }
        }
    }
    Some(out)
}

/// For each element of `out_shape` (row-major), the flat index into a tensor of `in_shape`
/// broadcast to it.
pub fn broadcast_indices(in_shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    let rank = out_shape.len();
    let offset = rank - in_shape.len();
    // stride of each output axis in the input (0 where broadcast)
    let mut strides = vec![0usize; rank];
    let mut acc = 1;
    for i in (0..in_shape.len()).rev() {
        strides[offset + i] = if in_shape[i] == 1 { 0 } else { acc };
        acc *= in_shape[i];
    }
    let n: usize = out_shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; rank];
    let mut flat = 0usize;
    for _ in 0..n {
        out.push(flat);
        for ax in (0..rank).rev() {
            idx[ax] += 1;
            flat += strides[ax];
            if idx[ax] < out_shape[ax] {
                break;
            }
            flat -= strides[ax] * idx[ax];
            idx[ax] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(broadcast_shapes(&[&[2, 3, 4], &[3, 1]]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shapes(&[&[1], &[]]), Some(vec![1]));
        assert_eq!(broadcast_shapes(&[&[2, 3], &[4, 3]]), None);
    }

    #[test]
    fn indices() {
        assert_eq!(
            broadcast_indices(&[3, 1], &[2, 3, 2]),
            vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]
        );
        assert_eq!(broadcast_indices(&[], &[2]), vec![0, 0]);
        assert_eq!(broadcast_indices(&[2, 2], &[2, 2]), vec![0, 1, 2, 3]);
    }
}
