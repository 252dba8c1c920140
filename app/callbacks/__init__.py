"""After resolution: callbacks (客户回访) and contact plans, satisfaction surveys
(满意度调查), and closing a resolved ticket on silence (DOMAIN sections 2, 7 and 8)."""
