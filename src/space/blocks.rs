//! Lowering chain stages and their blocks: names `stage3/block1/expand/conv`,
//! `stage3/block1/dw/relu6`, `stage3/block1/se/fc1`, `stage3/block1/project/bn`,
//! `stage3/block1/add`.

use super::chain::{Block, resolve};
use super::lower::Lowering;
use super::spec::OpSpec;
use super::{ChainArch, SearchSpace};
use crate::error::{Error, Result};
use crate::ir::builder::{Conv2d, Pool2d};
use crate::ir::{Attr, OpType, Tensor, ValueId};

/// torchvision's `_make_divisible(v, 8)`: the nearest multiple of 8, at least 8, not below 90%.
fn make_divisible(v: usize) -> usize {
    let new = ((v + 4) / 8 * 8).max(8);
    if (new as f64) < 0.9 * v as f64 { new + 8 } else { new }
}

impl Lowering<'_> {
    /// The blocks of every chain stage after `h`; each block output is a layer.
    pub(super) fn chain(
        &mut self,
        space: &SearchSpace,
        arch: &ChainArch,
        mut h: ValueId,
    ) -> Result<ValueId> {
        for (k, (st, sa)) in space.chain_stages().iter().zip(&arch.stages).enumerate() {
            let cout = st.widths[sa.width];
            for (j, b) in sa.blocks.iter().enumerate() {
                let stride = if j == 0 { st.stride } else { 1 };
                let scope = format!("stage{}/block{j}", k + 1);
                h = self.block(&st.ops[b.op].1, &b.choices, &scope, h, cout, stride)?;
                self.layers.push(h);
            }
        }
        Ok(h)
    }

    /// One block: `op` with the options `choices`, from `x` to `cout` channels with `stride`,
    /// its nodes named under `scope`.
    pub(super) fn block(
        &mut self,
        op: &OpSpec,
        choices: &[usize],
        scope: &str,
        x: ValueId,
        cout: usize,
        stride: usize,
    ) -> Result<ValueId> {
        let block = resolve(op, choices)
            .ok_or_else(|| Error::Spec(format!("{scope}: an option list is empty")))?;
        let cin = self.channels(x);
        match block {
            Block::Zero => {
                let zero = self.b.param(&format!("{scope}/scalar"), Tensor::f32_scalar(0.0))?;
                self.b.op(OpType::Mul, &format!("{scope}/zero"), &[x, zero], vec![])
            }
            Block::Identity => Ok(x),
            Block::Skip if stride == 1 && cin == cout => Ok(x),
            Block::Skip => {
                self.conv_bn_act(&format!("{scope}/project"), x, cout, 1, stride, 1, None)
            }
            Block::ReluConvBn { kernel, dilation } => {
                self.relu_conv_bn(scope, x, cout, kernel, stride, dilation)
            }
            Block::AvgPool { kernel, count_include_pad } => {
                let p = Pool2d { kernel, stride, pad: kernel / 2, count_include_pad };
                self.b.pool(OpType::AveragePool, &format!("{scope}/avgpool"), x, p)
            }
            Block::MaxPool { kernel } => self.b.pool(
                OpType::MaxPool,
                &format!("{scope}/maxpool"),
                x,
                Pool2d::new(kernel, stride, kernel / 2),
            ),
            Block::ConvBnAct { kernel, act } => {
                self.conv_bn_act(scope, x, cout, kernel, stride, 1, Some(act))
            }
            Block::SepConv { kernel } => {
                self.b.push_scope(scope);
                let h = self.relu_dw_pw_bn("sep1", x, cin, kernel, stride, 1)?;
                let h = self.relu_dw_pw_bn("sep2", h, cout, kernel, 1, 1)?;
                self.b.pop_scope();
                Ok(h)
            }
            Block::DilConv { kernel, dilation } => {
                self.relu_dw_pw_bn(scope, x, cout, kernel, stride, dilation)
            }
            Block::DwConvBnAct { kernel, act } => {
                self.conv_bn_act(scope, x, cin, kernel, stride, cin, Some(act))
            }
            Block::InvertedResidual { kernel, expansion, act, se } => {
                self.b.push_scope(scope);
                let hidden = ((cin as f64 * expansion).round() as usize).max(1);
                let mut h = x;
                if expansion != 1.0 {
                    h = self.conv_bn_act("expand", h, hidden, 1, 1, 1, Some(act))?;
                }
                h = self.conv_bn_act("dw", h, hidden, kernel, stride, hidden, Some(act))?;
                if se {
                    h = self.squeeze_excite("se", h)?;
                }
                h = self.conv_bn_act("project", h, cout, 1, 1, 1, None)?;
                if stride == 1 && cin == cout {
                    h = self.b.add("add", x, h)?;
                }
                self.b.pop_scope();
                Ok(h)
            }
        }
    }

    /// DARTS's ReLU, depthwise k×k convolution (stride, dilation, same padding), 1x1 convolution to
    /// `cout`, BatchNorm, under `scope` (`relu`, `dw`, `pw`, `bn`).
    fn relu_dw_pw_bn(
        &mut self,
        scope: &str,
        x: ValueId,
        cout: usize,
        k: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<ValueId> {
        self.b.push_scope(scope);
        let c = self.channels(x);
        let r = self.b.relu("relu", x)?;
        let w = self.weight("dw.weight", &[c, 1, k, k])?;
        let p = Conv2d { stride, pad: dilation * (k - 1) / 2, dilation, group: c };
        let dw = self.b.conv("dw", r, w, None, p)?;
        let pw = self.conv("pw", dw, cout, 1, 1, 1)?;
        let out = self.bn("bn", pw)?;
        self.b.pop_scope();
        Ok(out)
    }

    /// MobileNetV3's squeeze-excitation: global average pool, 1x1 conv to
    /// `make_divisible(c / 4)` channels, ReLU, 1x1 conv back, HardSigmoid, scale.
    fn squeeze_excite(&mut self, scope: &str, x: ValueId) -> Result<ValueId> {
        let c = self.channels(x);
        let sq = make_divisible(c / 4);
        self.b.push_scope(scope);
        let gap = self.b.global_avg_pool("gap", x)?;
        let mut h = gap;
        for (name, cin, cout) in [("fc1", c, sq), ("fc2", sq, c)] {
            let w = self.weight(&format!("{name}.weight"), &[cout, cin, 1, 1])?;
            let b = self.filled(&format!("{name}.bias"), cout, 0.0)?;
            h = self.b.conv(name, h, w, Some(b), Conv2d::default())?;
            if name == "fc1" {
                h = self.b.relu("relu", h)?;
            }
        }
        let attrs = vec![("alpha", Attr::Float(1.0 / 6.0)), ("beta", Attr::Float(0.5))];
        let g = self.b.op(OpType::HardSigmoid, "hsigmoid", &[h], attrs)?;
        let out = self.b.op(OpType::Mul, "scale", &[x, g], vec![])?;
        self.b.pop_scope();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn make_divisible_matches_torchvision() {
        // torchvision: _make_divisible(v, 8) for MobileNetV3's squeeze channels.
        for (v, want) in [(4, 8), (16, 16), (18, 24), (30, 32), (60, 64), (90, 88), (120, 120)] {
            assert_eq!(super::make_divisible(v), want, "{v}");
        }
    }
}
