"""Development tools of Torget: the SMTP catcher, the end-to-end demo and the whole-stack benchmark."""
