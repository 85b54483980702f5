import './sa.js';
import './ping.js';
