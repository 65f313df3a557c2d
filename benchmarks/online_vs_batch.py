"""Online (streaming) vs batch prototype alignment on finished runs.

Usage: python benchmarks/online_vs_batch.py RUN [RUN ...]
Streams each run's unseen test features one at a time in three seeded random
orders and prints top-1 of text features, batch alignment and online
alignment (min_support 1 and 5). Uses the test labels only to score.
"""
import sys, numpy as np, torch, torch.nn.functional as F
from pathlib import Path
from pgfa.config import TrainConfig
from pgfa.run import load_run_inputs
from pgfa.run import build_run_model
from pgfa.scoring import encode
from pgfa.training.checkpoint import load_checkpoint
from pgfa.alignment.prototype import prototype_align
from pgfa.alignment.online import OnlineAligner
for r in sys.argv[1:]:
    run=Path(r); cfg=TrainConfig.load(run/'config.yaml'); inp=load_run_inputs(run,cfg)
    m=build_run_model(cfg,inp); m.load_state_dict(load_checkpoint(run/'best.pt')['model'])
    sp=inp.split; f=encode(m,inp.skeletons.data,sp.unseen_test,torch.device('cpu'))
    t=torch.from_numpy(inp.text_features[sp.unseen_classes]); pos={int(c):i for i,c in enumerate(sp.unseen_classes)}
    y=torch.tensor([pos[int(v)] for v in inp.skeletons.labels[sp.unseen_test]])
    plain=(F.normalize(f,dim=-1)@F.normalize(t,dim=-1).T).argmax(1)
    row=[r, 'text %.3f'%(plain==y).float().mean(), 'batch %.3f'%(prototype_align(f,t,0.9).labels==y).float().mean()]
    for ms in (1,5):
        accs=[]
        for seed in range(3):
            order=torch.randperm(len(f),generator=torch.Generator().manual_seed(seed))
            a=OnlineAligner(t,0.9,ms); lab=torch.cat([a.update(f[i:i+1]) for i in order.tolist()])
            accs.append(float((lab==y[order]).float().mean()))
        row.append('online(min_support=%d) %.3f±%.3f'%(ms,np.mean(accs),np.std(accs)))
    print(' | '.join(row))
